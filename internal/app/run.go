package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
)

// listeners are the bound sockets of a stack.
type listeners struct{ envoy, scaler, admin, peer net.Listener }

func (s *stack) listen() (*listeners, error) {
	var l listeners
	for _, b := range []struct {
		flag, addr string
		dst        *net.Listener
	}{{"--envoy-addr", s.opts.EnvoyAddr, &l.envoy}, {"--scaler-addr", s.opts.ScalerAddr, &l.scaler}, {"--admin-addr", s.opts.AdminAddr, &l.admin}, {"--peer-addr", s.opts.PeerAddr, &l.peer}} {
		ln, err := net.Listen("tcp", b.addr)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("%s %s: %w", b.flag, b.addr, err)
		}
		*b.dst = ln
	}
	return &l, nil
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.envoy, l.scaler, l.admin, l.peer} {
		if ln != nil {
			ln.Close()
		}
	}
}

// writePortsFile records the bound addresses, atomically, for tests and scripts.
func (l *listeners) writePortsFile(path string) error {
	b, err := json.Marshal(map[string]string{"envoy": l.envoy.Addr().String(), "scaler": l.scaler.Addr().String(), "admin": l.admin.Addr().String(), "peer": l.peer.Addr().String()})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ports-*")
	if err != nil {
		return fmt.Errorf("--ports-file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("--ports-file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--ports-file: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// run serves until ctx is cancelled or a part fails, then shuts down in order: draining →
// delay → answer held requests → gRPC graceful stop (bounded) → stop providers.
func (s *stack) run(ctx context.Context) error {
	l, err := s.listen()
	if err != nil {
		return err
	}
	if s.opts.PortsFile != "" {
		if err := l.writePortsFile(s.opts.PortsFile); err != nil {
			l.close()
			return err
		}
	}
	admin := &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second}

	infraCtx, stopInfra := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInfra()
	infra, infraCtx := errgroup.WithContext(infraCtx)
	for _, f := range s.infra {
		infra.Go(func() error { return f(infraCtx) })
	}
	serving, servingCtx := errgroup.WithContext(ctx)
	serving.Go(func() error { return ignoreClosed(s.envoy.Serve(l.envoy)) })
	serving.Go(func() error { return ignoreClosed(s.scaler.Serve(l.scaler)) })
	serving.Go(func() error { return ignoreClosed(admin.Serve(l.admin)) })
	serving.Go(func() error { return ignoreClosed(s.peers.Serve(l.peer)) })
	// The heartbeat outlives the signal: liveness must hold through a long drain.
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	beatDone := make(chan struct{})
	go func() { defer close(beatDone); s.heartbeat(beatCtx) }()
	defer func() { stopBeat(); <-beatDone }()

	s.probes.setStarted()
	s.log.Info("serving", "envoy", l.envoy.Addr().String(), "scaler", l.scaler.Addr().String(), "admin", l.admin.Addr().String(), "peer", l.peer.Addr().String(), "replica", s.opts.ReplicaID)

	select {
	case <-ctx.Done():
	case <-servingCtx.Done():
	case <-infraCtx.Done():
	}
	s.shutdown(admin)
	stopInfra()
	return errors.Join(serving.Wait(), infra.Wait())
}

func (s *stack) shutdown(admin *http.Server) {
	s.log.Info("draining", "delay", s.opts.ShutdownDelay.String())
	s.probes.setDraining()
	delay := time.NewTimer(s.opts.ShutdownDelay)
	<-delay.C
	s.gate.Drain()
	s.log.Info("held requests answered; stopping gRPC servers", "timeout", s.opts.ShutdownTimeout.String())
	s.keda.Drain() // ends KEDA's streams cleanly: KEDA resets its back-off and reconnects elsewhere
	envoyDone := gracefulStop(s.envoy, s.opts.ShutdownTimeout)
	s.peerSrv.Drain() // a final report (goodbye): peers drop this replica's counts at once
	// Every server is stopped, whatever the others did (no short-circuit).
	scalerDone := gracefulStop(s.scaler, s.opts.ShutdownTimeout)
	peersDone := gracefulStop(s.peers, s.opts.ShutdownTimeout)
	if !envoyDone || !scalerDone || !peersDone {
		s.log.Warn("gRPC streams still open at the shutdown timeout; closed them",
			"envoy", envoyDone, "scaler", scalerDone, "peers", peersDone)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = admin.Shutdown(ctx) // closes idle connections; a slow scrape is cut off
	s.gate.Close()
}

// gracefulStop stops srv gracefully, or forcibly after timeout; it reports whether the
// graceful stop finished in time.
func gracefulStop(srv *grpc.Server, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		srv.Stop()
		<-done
		return false
	}
}

// heartbeat ticks the "gate" liveness loop; it takes the gate's locks, so a deadlock there
// shows up as a failing /healthz.
func (s *stack) heartbeat(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.gate.Targets()
		s.probes.tick("gate", 10*time.Second)
		s.probes.refresh()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ignoreClosed turns the errors a server returns after an orderly stop into nil (a stop
// that comes before Serve even started gives grpc.ErrServerStopped).
func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}
