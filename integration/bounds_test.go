package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// overBoundBudget is how soon (asserted loosely) a request over a hold bound must get its
// 503: "at once", far below the 20s hold timeout of the targets here.
const overBoundBudget = 3 * time.Second

// TestMaxHeldPerTarget: with maxHeld 5 and the target not ready, 8 concurrent requests
// make exactly 3 answered 503 + Retry-After at once; the other 5 are held and released with
// 200 once the target is ready.
func TestMaxHeldPerTarget(t *testing.T) {
	t.Parallel()
	const n, maxHeld = 8, 5
	sw := startReadinessSwitch(t)
	s := startStack(t, stackOptions{args: []string{"--retry-after", "4s"}, target: func(tg *harness.LocalTarget) {
		tg.Readiness.HTTP, tg.MaxHeld = sw.url, maxHeld
	}})
	results := make(chan asyncResult, n)
	for range n {
		sendAsync(t, results, s.envoy.URL("gated")+"/", appHost)
	}
	// The held ones cannot be answered before the switch turns: the first 3 answers are
	// the rejected ones.
	for _, r := range awaitResults(t, results, n-maxHeld, 30*time.Second, "requests over maxHeld") {
		latency := r.at.Sub(r.sent)
		t.Logf("over maxHeld: %d after %v, Retry-After %q", r.status, latency.Round(time.Millisecond), r.header.Get("retry-after"))
		if r.err != nil || r.status != http.StatusServiceUnavailable || r.header.Get("retry-after") != "4" {
			t.Errorf("over maxHeld: status %d, Retry-After %q, err %v; want 503, 4", r.status, r.header.Get("retry-after"), r.err)
		}
		if latency > overBoundBudget {
			t.Errorf("over maxHeld: answered after %v, want at once (< %v; hold timeout 20s)", latency, overBoundBudget)
		}
	}
	s.awaitApp(t, "5 held", func(ts harness.TargetStatus) bool { return ts.Held == maxHeld })
	assertUnanswered(t, results, "before the target is ready")
	awaitHealthy(t, s.app.HealthURL())
	sw.ready.Store(true)
	for _, r := range awaitResults(t, results, maxHeld, 30*time.Second, "held requests") {
		if r.err != nil || r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
			t.Errorf("held request: status %d, x-seen-cold-start %q, err %v; want 200 after a hold", r.status, r.header.Get("x-seen-cold-start"), r.err)
		}
	}
	for outcome, want := range map[string]float64{"overload": n - maxHeld, "released": maxHeld} {
		if got := s.metric(t, "wakegate_requests_total", "target", "app", "outcome", outcome); got != want {
			t.Errorf("wakegate_requests_total{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
	s.awaitApp(t, "held back to 0", func(ts harness.TargetStatus) bool { return ts.Held == 0 && ts.InFlight == 0 })
}

// TestMaxHeldGlobal: --max-held bounds the holds of all targets together. With 4 and
// target a holding 3, only 1 of 3 requests for target b is held; the other 2 get 503 at once.
func TestMaxHeldGlobal(t *testing.T) {
	t.Parallel()
	sw := startReadinessSwitch(t)
	appA, appB := sampleApp(t, "a"), sampleApp(t, "b")
	wg, e := startTargets(t, []harness.LocalTarget{
		appTarget("a", "a.test", appA, sw.url),
		appTarget("b", "b.test", appB, sw.url),
	}, appA.Listen, "--max-held", "4", "--retry-after", "4s")
	url := e.URL("gated") + "/"
	resA, resB := make(chan asyncResult, 3), make(chan asyncResult, 3)
	for range 3 {
		sendAsync(t, resA, url, "a.test")
	}
	if _, err := wg.AwaitTarget(deadline(t, 30*time.Second), "a", func(ts harness.TargetStatus) bool { return ts.Held == 3 }); err != nil {
		t.Fatalf("waiting for 3 held on a: %v", err)
	}
	for range 3 {
		sendAsync(t, resB, url, "b.test")
	}
	for _, r := range awaitResults(t, resB, 2, 30*time.Second, "requests for b over --max-held") {
		latency := r.at.Sub(r.sent)
		t.Logf("over --max-held: %d after %v", r.status, latency.Round(time.Millisecond))
		if r.err != nil || r.status != http.StatusServiceUnavailable || r.header.Get("retry-after") != "4" || latency > overBoundBudget {
			t.Errorf("over --max-held: status %d, Retry-After %q, err %v after %v; want 503, 4 at once", r.status, r.header.Get("retry-after"), r.err, latency)
		}
	}
	if _, err := wg.AwaitTarget(deadline(t, 30*time.Second), "b", func(ts harness.TargetStatus) bool { return ts.Held == 1 }); err != nil {
		t.Fatalf("waiting for 1 held on b: %v", err)
	}
	assertUnanswered(t, resA, "a before the targets are ready")
	assertUnanswered(t, resB, "b before the targets are ready")
	awaitHealthy(t, appA.HealthURL()) // Envoy sends both hosts to a's app
	sw.ready.Store(true)
	for _, r := range append(awaitResults(t, resA, 3, 30*time.Second, "held on a"), awaitResults(t, resB, 1, 30*time.Second, "held on b")...) {
		if r.err != nil || r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
			t.Errorf("held request: status %d, x-seen-cold-start %q, err %v; want 200 after a hold", r.status, r.header.Get("x-seen-cold-start"), r.err)
		}
	}
	if got := wakegateMetric(t, wg, "wakegate_requests_total", "target", "b", "outcome", "overload"); got != 2 {
		t.Errorf("wakegate_requests_total{target=b,outcome=overload} = %v, want 2", got)
	}
	if got := wakegateMetric(t, wg, "wakegate_requests_total", "target", "a", "outcome", "overload"); got != 0 {
		t.Errorf("wakegate_requests_total{target=a,outcome=overload} = %v, want 0", got)
	}
}
