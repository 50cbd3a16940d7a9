package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// kubeBackend is the loopback HTTP server that stands in for Deployment web's pods: Envoy's
// app cluster points at it, and wakegate's release probe dials it (--release-probe-dial-to),
// since pod addresses must never be connected to. It records the cold-start header of each
// request and counts the connections that closed without a request (the release probe's).
type kubeBackend struct {
	addr string

	mu     sync.Mutex
	cold   []string          // x-wakegate-cold-start of each request that carried one
	warm   int               // requests without it
	conns  map[net.Conn]bool // open connections → whether one carried a request
	probes int               // connections closed without a request
}

// startKubeBackend serves on 127.0.0.1:0 until t ends.
func startKubeBackend(t testing.TB) *kubeBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &kubeBackend{addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(b.serve), ConnState: b.connState}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

func (b *kubeBackend) serve(w http.ResponseWriter, r *http.Request) {
	v := r.Header.Get("x-wakegate-cold-start")
	b.mu.Lock()
	if v != "" {
		b.cold = append(b.cold, v)
	} else {
		b.warm++
	}
	b.mu.Unlock()
	w.Header().Set("x-seen-cold-start", v)
	_, _ = w.Write([]byte("hello from web\n"))
}

func (b *kubeBackend) connState(c net.Conn, s http.ConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch s {
	case http.StateNew:
		b.conns[c] = false
	case http.StateActive:
		b.conns[c] = true
	case http.StateClosed, http.StateHijacked:
		if seen, ok := b.conns[c]; ok && !seen {
			b.probes++
		}
		delete(b.conns, c)
	}
}

// counts returns the cold-start header values seen, the requests without one, and the
// connections closed without a request so far.
func (b *kubeBackend) counts() (cold []string, warm, probes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.cold...), b.warm, b.probes
}

// port returns the backend's port, for Envoy's app cluster.
func (b *kubeBackend) port(t testing.TB) int {
	t.Helper()
	_, p, err := net.SplitHostPort(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	return atoi(t, p)
}

// kubeWakegateOptions describe a `wakegate serve` to start.
type kubeWakegateOptions struct {
	kubeconfig string
	namespace  string // --namespaces
	dialTo     string // --release-probe-dial-to
	directWake bool
	args       []string // more flags, after the defaults (a repeated flag overrides)
}

// startKubeWakegate starts `wakegate serve` and returns once its ports file exists; it does
// not wait for /readyz. It is stopped (and must exit 0) when t ends.
func startKubeWakegate(t testing.TB, o kubeWakegateOptions) *harness.Wakegate {
	t.Helper()
	dir := t.TempDir()
	ports := filepath.Join(dir, "ports.json")
	args := []string{"serve", "--kubeconfig", o.kubeconfig, "--namespaces", o.namespace,
		"--release-probe", "tcp", "--release-probe-dial-to", o.dialTo, "--ports-file", ports,
		"--envoy-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--scaler-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "debug", "--shutdown-delay", "0s"}
	if o.directWake {
		args = append(args, "--direct-wake")
	}
	args = append(args, o.args...)
	p, err := harness.StartProcess(harness.ProcessOptions{Name: "wakegate serve", Path: binaries(t).Wakegate,
		Args: args, LogPath: filepath.Join(dir, "wakegate.log")})
	if err != nil {
		t.Fatal(err)
	}
	w := &harness.Wakegate{Process: p}
	t.Cleanup(func() {
		if err := p.Stop(harness.StopGrace); err != nil {
			t.Errorf("stop wakegate: %v", err)
		}
		if t.Failed() {
			t.Logf("wakegate log (%s), last lines:\n%s", p.LogPath(), logTailKube(p.Log(), 60))
		}
	})
	err = harness.Poll(deadline(t, harness.StartTimeout), func() (bool, error) {
		select {
		case <-p.Done():
			return false, harness.GiveUp(fmt.Errorf("wakegate exited: %v", p.ExitErr()))
		default:
		}
		b, err := os.ReadFile(ports)
		if err != nil {
			return false, err
		}
		return true, json.Unmarshal(b, &w.Ports)
	})
	if err != nil {
		t.Fatalf("wakegate serve ports file: %v", err)
	}
	return w
}

// listed reports whether wakegate's /status has a row for target.
func listed(ctx context.Context, w *harness.Wakegate, target string) (bool, error) {
	rows, err := w.Status(ctx)
	for _, r := range rows {
		if r.Name == target {
			return true, err
		}
	}
	return false, err
}

// awaitListed polls /status until target is (want true) or is not (want false) listed.
func awaitListed(t testing.TB, w *harness.Wakegate, target string, want bool) time.Time {
	t.Helper()
	ctx := deadline(t, 60*time.Second)
	err := harness.Poll(ctx, func() (bool, error) {
		ok, err := listed(ctx, w, target)
		if err != nil {
			return false, err
		}
		return ok == want, fmt.Errorf("listed: %v", ok)
	})
	if err != nil {
		t.Fatalf("waiting for /status to list %s = %v: %v", target, want, err)
	}
	return time.Now()
}

// awaitLog waits until wakegate's log has a line containing every one of parts.
func awaitLog(t testing.TB, p *harness.Process, d time.Duration, parts ...string) string {
	t.Helper()
	var found string
	err := harness.Poll(deadline(t, d), func() (bool, error) {
		for line := range strings.Lines(p.Log()) {
			if containsAll(line, parts) {
				found = line
				return true, nil
			}
		}
		return false, errors.New("no such line yet")
	})
	if err != nil {
		t.Fatalf("waiting for a wakegate log line with %q: %v", parts, err)
	}
	return found
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
