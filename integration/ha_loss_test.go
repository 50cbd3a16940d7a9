package integration

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// lossRun is what TestHAReplicaLoss carries from one step to the next.
type lossRun struct {
	ctx          context.Context // the whole test's: requests held in one step outlive it
	c            *haCluster
	closed, open *harness.Envoy // fail-closed and fail-open, both over all three replicas
	warm         *traffic       // requests to the ready target through the fail-closed Envoy
	// Answers to the requests for cold (never ready until the end) through each Envoy, and
	// how many of those each replica holds, by id.
	held, heldOpen     chan asyncResult
	onClosed, onOpen   map[string]int
	closedURL, openURL string
}

// TestHAReplicaLoss: three replicas behind two Envoys (fail-closed and fail-open, both
// round robin over all three with gRPC health checks every 100 ms), steady traffic to a
// ready target and requests held for a target that is not ready.
//
// (c) SIGTERM replica c: Envoy sees it NOT_SERVING within a health check and sends it no
// new streams, so no request fails; after --shutdown-delay c answers what it holds (503 +
// Retry-After), says goodbye and exits 0; a and b drop it at once (reason goodbye), and
// their merged held count is their own holds.
//
// (d) SIGKILL replica b while it holds requests through both Envoys: the fail-closed
// Envoy answers them 500 at once, the fail-open one forwards them to the app unheld. a
// keeps b's last counts (held included) for the staleness bound while traffic goes on,
// then drops it (reason stale). The requests a holds are untouched and released when the
// target turns ready.
func TestHAReplicaLoss(t *testing.T) {
	t.Parallel()
	c := startHACluster(t)
	run := &lossRun{ctx: t.Context(), c: c, closed: c.haEnvoy(t, "envoy-closed", false), open: c.haEnvoy(t, "envoy-open", true),
		held: make(chan asyncResult, 64), heldOpen: make(chan asyncResult, 16), onClosed: map[string]int{}, onOpen: map[string]int{}}
	run.closedURL, run.openURL = run.closed.URL("gated")+"/", run.open.URL("gated")+"/"
	run.warm = startTraffic(t, run.closedURL, haWarmHost, 10*time.Millisecond)
	if !t.Run("SIGTERM", run.drain) {
		return
	}
	if !t.Run("SIGKILL", run.kill) {
		return
	}
	t.Run("survivor releases", run.release)
}

// drain is part (c).
func (run *lossRun) drain(t *testing.T) {
	a, b, c := run.c.replicas[0], run.c.replicas[1], run.c.replicas[2]
	// The warm traffic shares Envoy's round robin, so where each hold lands varies.
	for i := 0; i < 30 && (run.onClosed["a"] < 1 || run.onClosed["b"] < 1 || run.onClosed["c"] < 1); i++ {
		run.onClosed[holdOne(t, run.ctx, run.c.replicas, run.held, run.closedURL).holder]++
	}
	t.Logf("held through the fail-closed Envoy, by replica: %v", run.onClosed)
	if run.onClosed["a"] < 1 || run.onClosed["b"] < 1 || run.onClosed["c"] < 1 {
		t.Fatalf("requests held %v; want some on every replica", run.onClosed)
	}
	total := int64(run.onClosed["a"] + run.onClosed["b"] + run.onClosed["c"])
	a.awaitRow(t, "cold", "a's merged held", func(r haRow) bool { return r.Merged.Held == total })

	signaled := time.Now()
	if err := c.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	unhealthy := awaitHostHealth(t, run.closed, c.Ports.Envoy, false)
	t.Logf("fail-closed Envoy marked c unhealthy %v after SIGTERM", unhealthy.Sub(signaled).Round(time.Millisecond))
	for _, r := range awaitResults(t, run.held, run.onClosed["c"], haShutdownDelay+exitBound, "c's held requests") {
		t.Logf("held on c: answered %v after SIGTERM: %d, Retry-After %q", r.at.Sub(signaled).Round(time.Millisecond), r.status, r.header.Get("retry-after"))
		if r.err != nil || r.status != http.StatusServiceUnavailable || r.header.Get("retry-after") == "" || r.at.Sub(signaled) < haShutdownDelay {
			t.Errorf("request held on c: status %d, Retry-After %q, err %v, %v after SIGTERM; want 503 with Retry-After after the %v delay",
				r.status, r.header.Get("retry-after"), r.err, r.at.Sub(signaled), haShutdownDelay)
		}
	}
	run.onClosed["c"] = 0
	sentToC := wakegateHosts(t, run.closed)[c.Ports.Envoy].rqTotal // its port closes from here on
	assertUnanswered(t, run.held, "a's and b's held requests, after c's drain")
	awaitExit(t, c.Wakegate, signaled, haShutdownDelay)
	exited := time.Now()

	for _, r := range []*haReplica{a, b} {
		r.awaitPeers(t, r.id+" dropping c", func(p map[string]haPeer) bool { _, ok := p["c"]; return !ok && len(p) == 1 })
		checkDrops(t, r, 1, 0)
	}
	t.Logf("c left a's and b's views by %v after its exit (it said goodbye at the end of its drain); a's merged app "+
		"requestsTotal %d, a's own + b's own %d (c's left with it)", time.Since(exited).Round(time.Millisecond),
		a.row(t, "app").Merged.RequestsTotal, a.row(t, "app").RequestsTotal+b.row(t, "app").RequestsTotal)
	if row := a.row(t, "cold"); row.Merged.Held != int64(run.onClosed["a"]+run.onClosed["b"]) {
		t.Errorf("a's merged held %d after c left, want a's and b's own %d", row.Merged.Held, run.onClosed["a"]+run.onClosed["b"])
	}
	run.checkWarm(t, signaled, "c's SIGTERM")
	if got := wakegateHosts(t, run.closed)[c.Ports.Envoy].rqTotal; got != sentToC {
		t.Errorf("fail-closed Envoy sent c %d more streams after its drain began", got-sentToC)
	}
}

// checkWarm waits for 20 more answers of the warm traffic and checks none since from failed.
func (run *lossRun) checkWarm(t *testing.T, from time.Time, what string) {
	t.Helper()
	n := len(run.warm.snapshot())
	if err := harness.Poll(deadline(t, 20*time.Second), func() (bool, error) { return len(run.warm.snapshot()) >= n+20, nil }); err != nil {
		t.Fatalf("warm traffic stalled: %v", err)
	}
	all := run.warm.snapshot()
	bad := failures(all, from, time.Now())
	t.Logf("warm traffic since %s: %d requests, %d not 200", what, countSince(all, from), len(bad))
	for _, r := range bad {
		t.Errorf("warm request sent %v after %s: status %d, err %v", r.sent.Sub(from).Round(time.Millisecond), what, r.status, r.err)
	}
}

// countSince counts the answers to requests sent at or after from.
func countSince(rs []asyncResult, from time.Time) int {
	n := 0
	for _, r := range rs {
		if !r.sent.Before(from) {
			n++
		}
	}
	return n
}

// checkDrops checks r dropped goodbye peers for the reason goodbye and stale ones for stale.
func checkDrops(t *testing.T, r *haReplica, goodbye, stale float64) {
	t.Helper()
	m, err := r.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	g, s := m.Value("wakegate_peer_dropped_total", "reason", "goodbye"), m.Value("wakegate_peer_dropped_total", "reason", "stale")
	if g != goodbye || s != stale {
		t.Errorf("%s: wakegate_peer_dropped_total goodbye %v, stale %v; want %v, %v", r.id, g, s, goodbye, stale)
	}
}

// release is the end: the target turns ready and a releases what it holds (200 after a hold).
func (run *lossRun) release(t *testing.T) {
	run.c.cold.ready.Store(true)
	for _, ch := range []struct {
		res chan asyncResult
		n   int
	}{{run.held, run.onClosed["a"]}, {run.heldOpen, run.onOpen["a"]}} {
		for _, r := range awaitResults(t, ch.res, ch.n, 20*time.Second, "a's held requests") {
			if r.err != nil || r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
				t.Errorf("request held on a: status %d, x-seen-cold-start %q, err %v; want 200 after a hold", r.status, r.header.Get("x-seen-cold-start"), r.err)
			}
		}
	}
}
