package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/wakegate/wakegate/filter"
	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/peer"
	"github.com/wakegate/wakegate/internal/telemetry"
	"github.com/wakegate/wakegate/internal/tlsreload"
	"github.com/wakegate/wakegate/scaler"
)

// stack is everything a serving subcommand runs. Build it with newStack, then run it.
type stack struct {
	opts    ServerOptions
	log     *slog.Logger
	reg     *prometheus.Registry
	tracker *activity.Tracker
	gate    *gate.Gate
	envoy   *grpc.Server   // ext_proc and gRPC health, for Envoy
	scaler  *grpc.Server   // KEDA external scaler and its own gRPC health
	keda    *scaler.Server // drained at shutdown so KEDA's streams end cleanly
	view    *peer.View     // merged counts of this replica and its peers, read by the scaler
	peerSrv *peer.Server   // serves this replica's counts to its peers
	peers   *grpc.Server   // the peer port
	mesh    *peer.Mesh     // subscribes to the peers
	probes  *probes
	// infra are the long-running loops (providers); each runs until its ctx is cancelled.
	infra []func(ctx context.Context) error
}

// stackConfig is what a subcommand contributes to its stack.
type stackConfig struct {
	Options  ServerOptions
	Logger   *slog.Logger
	Tracker  *activity.Tracker
	Provider gate.Provider
	Targets  []gate.Target
	Resolver scaler.Resolver
}

func newStack(c stackConfig) (*stack, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("register go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("register process collector: %w", err)
	}
	m, err := telemetry.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	g, err := gate.New(gate.Options{Provider: c.Provider, Tracker: c.Tracker, Metrics: m, Logger: c.Logger,
		MaxHeld: c.Options.MaxHeld, RetryAfter: c.Options.RetryAfter})
	if err != nil {
		return nil, err
	}
	if err := g.Configure(c.Targets); err != nil {
		return nil, &UsageError{Err: err}
	}
	s := &stack{opts: c.Options, log: c.Logger, reg: reg, tracker: c.Tracker, gate: g}
	if err := s.buildPeers(); err != nil {
		g.Close()
		return nil, err
	}
	if err := s.buildServers(c); err != nil {
		g.Close()
		return nil, err
	}
	s.infra = append(s.infra, s.view.Run, s.mesh.Run)
	return s, nil
}

// buildPeers makes the merged view, the peer server and the mesh that subscribes to the
// other replicas (--peers; Kubernetes discovery updates the list at run time).
func (s *stack) buildPeers() error {
	m, err := peer.NewMetrics(s.reg)
	if err != nil {
		return err
	}
	s.view, err = peer.NewView(peer.ViewOptions{Tracker: s.tracker, Staleness: s.opts.PeerStaleness, Logger: s.log, Metrics: m})
	if err != nil {
		return err
	}
	s.peerSrv, err = peer.NewServer(peer.ServerOptions{ReplicaID: s.opts.ReplicaID, Tracker: s.tracker, Edges: s.view, Logger: s.log, Metrics: m})
	if err != nil {
		return err
	}
	s.mesh, err = peer.NewMesh(peer.MeshOptions{ReplicaID: s.opts.ReplicaID, View: s.view, Peers: splitList(s.opts.Peers), Logger: s.log})
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--peers: %w", err)}
	}
	opts, _ := s.serverOptions(TLSFiles{}, "")
	s.peers = grpc.NewServer(opts...)
	s.peerSrv.Register(s.peers)
	return nil
}

func (s *stack) buildServers(c stackConfig) error {
	envoyHealth := health.NewServer()
	s.probes = newProbes(envoyHealth)

	eopts, err := s.serverOptions(s.opts.EnvoyTLS, "--envoy-tls")
	if err != nil {
		return err
	}
	s.envoy = grpc.NewServer(eopts...)
	healthpb.RegisterHealthServer(s.envoy, envoyHealth)
	extprocv3.RegisterExternalProcessorServer(s.envoy, filter.NewExtProc(filter.ExtProcOptions{
		Gate: s.gate, Logger: s.log, OverrideMessageTimeout: s.opts.MessageTimeoutOverride,
	}))
	authv3.RegisterAuthorizationServer(s.envoy, filter.NewExtAuthz(filter.ExtAuthzOptions{Gate: s.gate, Logger: s.log}))

	sopts, err := s.serverOptions(s.opts.ScalerTLS, "--scaler-tls")
	if err != nil {
		return err
	}
	keda, err := scaler.New(scaler.Options{Counts: s.view, Resolver: c.Resolver, Logger: s.log})
	if err != nil {
		return err
	}
	s.keda = keda
	s.scaler = grpc.NewServer(sopts...)
	keda.Register(s.scaler)
	return nil
}

// serverOptions returns the TLS option for a gRPC server, if its files are set. The
// certificate and CA are re-read when the files change (cert-manager rotates in place).
func (s *stack) serverOptions(f TLSFiles, flagPrefix string) ([]grpc.ServerOption, error) {
	opts := []grpc.ServerOption{
		// Envoy pings its gRPC upstreams (http2 connection_keepalive) every 30s in our
		// configs. grpc-go's default policy allows one ping per 5 minutes and answers more
		// with GOAWAY "too_many_pings", which would fail every request held on that
		// connection. Accept pings every 10s, with or without open streams.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// Notice a dead peer (a killed Envoy) even while every stream is held and silent.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
	}
	if f.Cert == "" {
		return opts, nil
	}
	r, err := tlsreload.New(tlsreload.Files(f), s.log.With("tls", flagPrefix))
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("%s: %w", flagPrefix, err)}
	}
	return append(opts, grpc.Creds(credentials.NewTLS(r.ServerConfig()))), nil
}
