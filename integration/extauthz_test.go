package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// namedHost is a Host no wakegate rule matches; the ext_authz bootstrap's named route sends
// it to target "app" through the context extension wakegate-target.
const namedHost = "named.test"

// startAuthzStack is startStack with Envoy's ext_authz filter instead of ext_proc: fail-
// closed, Envoy's default status_on_error (403, so it cannot be mistaken for wakegate's
// 503), a 30s ext_authz timeout, and namedHost routed to "app" by context extension.
// edit, if not nil, changes that bootstrap.
func startAuthzStack(t testing.TB, o stackOptions, edit func(*envoy.ExtAuthz)) *stack {
	t.Helper()
	bins := binaries(t)
	dir := t.TempDir()
	s := &stack{starts: filepath.Join(dir, "starts"), app: sampleApp(t, "app")}
	s.app.StartupDelay = o.startupDelay
	target := appTarget("app", appHost, s.app, "")
	target.Process.Command = s.wrappedCommand()
	if o.target != nil {
		o.target(&target)
	}
	s.wg = harness.WakegateForTest(t, harness.WakegateOptions{Bin: bins.Wakegate, Dir: dir, Args: o.args,
		Config: harness.LocalConfig{Targets: []harness.LocalTarget{target}}})
	a := extAuthzBootstrap(t, s.app.Listen, s.wg.Ports.Envoy)
	a.FailureModeAllow, a.StatusOnError, a.Timeout = false, 0, 30*time.Second
	a.Named = []envoy.NamedRoute{{Domain: namedHost, Target: "app"}}
	if edit != nil {
		edit(&a)
	}
	var cfg strings.Builder
	if err := envoy.RenderExtAuthz(&cfg, a); err != nil {
		t.Fatal(err)
	}
	s.envoy = harness.EnvoyForTest(t, harness.EnvoyOptions{Bin: harness.EnvoyBin(t), Config: cfg.String()})
	return s
}

// authzStats returns Envoy's ext_authz counters, named without their prefix.
func authzStats(t testing.TB, e *harness.Envoy) map[string]int64 {
	t.Helper()
	stats, err := e.Stats(t.Context(), `^cluster\.app\.ext_authz\.`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for k, v := range stats {
		out[strings.TrimPrefix(k, "cluster.app.ext_authz.")] = v
	}
	return out
}

// TestExtAuthzColdAndWarm: through Envoy's ext_authz filter, the first request is held
// until the app is ready and reaches it with the cold-start header; the next one passes at
// once without it. Each is one Check call, allowed.
func TestExtAuthzColdAndWarm(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	s := startAuthzStack(t, stackOptions{startupDelay: delay.String()}, nil)
	cold := s.get(t, appHost)
	if cold.status != http.StatusOK || cold.header.Get("x-sample-app") != "app" {
		t.Fatalf("cold request: status %d, x-sample-app %q, body %.200q", cold.status, cold.header.Get("x-sample-app"), cold.body)
	}
	if ms, err := strconv.Atoi(cold.header.Get("x-seen-cold-start")); err != nil || ms < int(delay.Milliseconds()) {
		t.Errorf("cold request: x-seen-cold-start %q, want the hold in ms, at least %v", cold.header.Get("x-seen-cold-start"), delay)
	}
	warm := s.get(t, appHost)
	if warm.status != http.StatusOK || warm.header.Get("x-seen-cold-start") != "" {
		t.Errorf("warm request: status %d, x-seen-cold-start %q; want 200 without it", warm.status, warm.header.Get("x-seen-cold-start"))
	}
	t.Logf("ext_authz: cold %v (held %sms), warm %v", cold.elapsed.Round(time.Millisecond), cold.header.Get("x-seen-cold-start"), warm.elapsed.Round(time.Millisecond))
	if st := authzStats(t, s.envoy); st["ok"] != 2 || st["denied"] != 0 || st["error"] != 0 {
		t.Errorf("Envoy ext_authz stats %v, want ok 2, no denied or error", st)
	}
	for outcome, want := range map[string]float64{"released": 1, "ready": 1} {
		if got := s.metric(t, "wakegate_requests_total", "target", "app", "outcome", outcome); got != want {
			t.Errorf("wakegate_requests_total{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
	s.awaitApp(t, "in flight back to 0", func(ts harness.TargetStatus) bool { return ts.InFlight == 0 && ts.Held == 0 })
}

// TestExtAuthzHoldTimeout: a target that never gets ready is answered with wakegate's 503 +
// Retry-After (HTML for browsers, so Envoy forwards the Accept header), both when the
// target's holdTimeout ends the hold and when the ext_authz timeout is the shorter one:
// wakegate then ends the hold just before Envoy's deadline, so the visitor never sees
// Envoy's status_on_error (403).
func TestExtAuthzHoldTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		hold, authzTimeout time.Duration
		min, max           time.Duration // bounds on when the answer comes (max asserted loosely)
	}{
		{"hold timeout first", time.Second, 10 * time.Second, time.Second, 5 * time.Second},
		{"ext_authz timeout first", 20 * time.Second, 1500 * time.Millisecond, time.Second, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			never := "http://127.0.0.1:" + strconv.Itoa(harness.FreePortForTest(t)) + "/healthz"
			s := startAuthzStack(t, stackOptions{args: []string{"--retry-after", "7s"}, target: func(tg *harness.LocalTarget) {
				tg.Readiness.HTTP, tg.HoldTimeout = never, tt.hold.String()
			}}, func(a *envoy.ExtAuthz) { a.Timeout = tt.authzTimeout })
			for _, c := range []struct{ accept, wantType, wantBody string }{
				{"*/*", "text/plain", ""},
				{"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "text/html", "<html"},
			} {
				r := s.get(t, appHost, "Accept", c.accept)
				t.Logf("%s, Accept %s: %d after %v, content-type %q", tt.name, c.accept, r.status, r.elapsed.Round(time.Millisecond), r.header.Get("content-type"))
				if r.status != http.StatusServiceUnavailable || r.header.Get("retry-after") != "7" {
					t.Errorf("Accept %s: status %d, Retry-After %q; want 503, 7", c.accept, r.status, r.header.Get("retry-after"))
				}
				if ct := r.header.Get("content-type"); !strings.HasPrefix(ct, c.wantType) {
					t.Errorf("Accept %s: content-type %q, want %s", c.accept, ct, c.wantType)
				}
				if !strings.Contains(strings.ToLower(r.body), c.wantBody) {
					t.Errorf("Accept %s: body %.200q lacks %q", c.accept, r.body, c.wantBody)
				}
				if r.elapsed < tt.min || r.elapsed > tt.max {
					t.Errorf("Accept %s: answered after %v, want between %v and %v", c.accept, r.elapsed, tt.min, tt.max)
				}
			}
			if st := authzStats(t, s.envoy); st["denied"] != 2 || st["error"] != 0 {
				t.Errorf("Envoy ext_authz stats %v, want denied 2, no error", st)
			}
			s.awaitApp(t, "held back to 0", func(ts harness.TargetStatus) bool { return ts.Held == 0 && ts.InFlight == 0 })
		})
	}
}

// TestExtAuthzNamedTarget: a request whose Host matches no wakegate rule is routed to a
// target by the Envoy route's context extension wakegate-target; without the extension
// the same kind of request passes untouched.
func TestExtAuthzNamedTarget(t *testing.T) {
	t.Parallel()
	s := startAuthzStack(t, stackOptions{startupDelay: "200ms"}, nil)
	r := s.get(t, namedHost)
	if r.status != http.StatusOK || r.header.Get("x-sample-app") != "app" || r.header.Get("x-seen-cold-start") == "" {
		t.Fatalf("Host %s: status %d, x-sample-app %q, x-seen-cold-start %q; want 200 from the woken app after a hold",
			namedHost, r.status, r.header.Get("x-sample-app"), r.header.Get("x-seen-cold-start"))
	}
	ts, err := s.wg.Target(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if ts.RequestsTotal != 1 || ts.Wakeups == 0 {
		t.Errorf("target app after the named request: %+v, want 1 request and a wake-up", ts)
	}
	if other := s.get(t, "other.test"); other.status != http.StatusOK || other.header.Get("x-seen-cold-start") != "" {
		t.Errorf("Host other.test: status %d, x-seen-cold-start %q; want 200 untouched", other.status, other.header.Get("x-seen-cold-start"))
	}
	if got := s.metric(t, "wakegate_unmatched_requests_total"); got != 1 {
		t.Errorf("wakegate_unmatched_requests_total = %v, want 1 (other.test only)", got)
	}
	if n := s.appStarts(t); n != 1 {
		t.Errorf("app started %d times, want 1", n)
	}
}

// TestExtAuthzForwardsAllHeaders: with no allowed_headers, Envoy's gRPC ext_authz client
// sends every request header in the CheckRequest: a rule on a custom header matches.
func TestExtAuthzForwardsAllHeaders(t *testing.T) {
	t.Parallel()
	s := startAuthzStack(t, stackOptions{target: func(tg *harness.LocalTarget) {
		tg.Match.Headers = map[string]string{"x-tenant": "blue"}
	}}, nil)
	without := s.get(t, appHost)
	if got := s.metric(t, "wakegate_unmatched_requests_total"); got != 1 {
		t.Fatalf("without x-tenant: wakegate_unmatched_requests_total = %v, want 1 (status %d)", got, without.status)
	}
	r := s.get(t, appHost, "x-tenant", "blue")
	if r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
		t.Fatalf("with x-tenant: blue: status %d, x-seen-cold-start %q; want 200 after a wake", r.status, r.header.Get("x-seen-cold-start"))
	}
	if ts, err := s.wg.Target(t.Context(), "app"); err != nil || ts.RequestsTotal != 1 {
		t.Errorf("target app: %+v, %v; want 1 request", ts, err)
	}
}

// TestExtAuthzConfigVariantsValidate runs `envoy --mode validate` on the ext_authz
// bootstrap rendered with each option (the shipped file is covered by
// TestEnvoyConfigsValidate).
func TestExtAuthzConfigVariantsValidate(t *testing.T) {
	t.Parallel()
	bin := harness.EnvoyBin(t)
	variants := map[string]func(*envoy.ExtAuthz){
		"fail-closed":  func(a *envoy.ExtAuthz) { a.FailureModeAllow = false },
		"envoy-status": func(a *envoy.ExtAuthz) { a.FailureModeAllow, a.StatusOnError = false, 0 },
		"no-named":     func(a *envoy.ExtAuthz) { a.Named = nil },
		"wildcard-named": func(a *envoy.ExtAuthz) {
			a.Named = []envoy.NamedRoute{{Domain: "*.a.test", Target: "a"}, {Domain: "b.test", Target: "b"}}
		},
	}
	dir := t.TempDir()
	for name, edit := range variants {
		a := envoy.DefaultExtAuthz()
		edit(&a)
		var b strings.Builder
		if err := envoy.RenderExtAuthz(&b, a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := harness.ValidateEnvoyConfig(t.Context(), bin, path); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
