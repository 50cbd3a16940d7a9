package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// appHost is the Host the default target matches.
const appHost = "app.test"

// stack is Envoy + wakegate + one target running the sample app, as a test started them.
type stack struct {
	wg     *harness.Wakegate
	envoy  *harness.Envoy
	app    harness.SampleAppOptions
	starts string // the app's wrapper appends one line here per start
}

// stackOptions adjust the default stack.
type stackOptions struct {
	startupDelay string                     // the app's --startup-delay
	target       func(*harness.LocalTarget) // edits the default target
	envoy        func(*envoy.Local)         // edits the Envoy bootstrap
	args         []string                   // more wakegate flags
}

// startStack starts wakegate with one target "app" (Host app.test, the sample app on a free
// port, probed on /healthz every 20ms) and Envoy in front of it, all stopped when t ends.
func startStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	bins := binaries(t)
	dir := t.TempDir()
	s := &stack{starts: filepath.Join(dir, "starts"),
		app: harness.SampleAppOptions{Bin: bins.SampleApp, Name: "app", StartupDelay: o.startupDelay,
			Listen: fmt.Sprintf("127.0.0.1:%d", harness.FreePortForTest(t))}}
	target := harness.LocalTarget{
		Name:            "app",
		Match:           harness.Match{Hosts: []string{appHost}},
		Process:         harness.ProcessSpec{Command: s.wrappedCommand()},
		Readiness:       harness.ReadinessCheck{HTTP: s.app.HealthURL(), Interval: "20ms"},
		IdleTimeout:     "10m",
		HoldTimeout:     "20s",
		StopGracePeriod: "5s",
	}
	if o.target != nil {
		o.target(&target)
	}
	s.wg = harness.WakegateForTest(t, harness.WakegateOptions{Bin: bins.Wakegate, Dir: dir, Args: o.args,
		Config: harness.LocalConfig{Targets: []harness.LocalTarget{target}}})
	_, port, _ := net.SplitHostPort(s.app.Listen)
	l := testBootstrap(t, atoi(t, port), s.wg.Ports.Envoy)
	if o.envoy != nil {
		o.envoy(&l)
	}
	s.envoy = startEnvoy(t, l)
	return s
}

// wrappedCommand runs the sample app through sh, which first records the start.
func (s *stack) wrappedCommand() []string {
	quoted := make([]string, 0, 8)
	for _, a := range s.app.Command() {
		quoted = append(quoted, "'"+a+"'")
	}
	return []string{"/bin/sh", "-c", fmt.Sprintf("echo start >> '%s' && exec %s", s.starts, strings.Join(quoted, " "))}
}

// appStarts returns how many times the app was started.
func (s *stack) appStarts(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(s.starts)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "start\n")
}

// get sends a request through Envoy's gated listener.
func (s *stack) get(t testing.TB, host string, headers ...string) reply {
	t.Helper()
	return get(t, s.envoy.URL("gated")+"/", host, headers...)
}

// metric returns one wakegate metric (see harness.Metrics.Value).
func (s *stack) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m, err := s.wg.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m.Value(name, labels...)
}

// awaitApp waits until the target's /status row satisfies cond.
func (s *stack) awaitApp(t testing.TB, what string, cond func(harness.TargetStatus) bool) harness.TargetStatus {
	t.Helper()
	ts, err := s.wg.AwaitTarget(deadline(t, 30*time.Second), "app", cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return ts
}

// readinessSwitch is an HTTP health endpoint the test turns ready, so a hold ends exactly
// when the test decides.
type readinessSwitch struct {
	url   string
	ready atomic.Bool
}

func startReadinessSwitch(t testing.TB) *readinessSwitch {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &readinessSwitch{url: "http://" + ln.Addr().String() + "/ready"}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !r.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
