package integration

import (
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// TestHAMergedView: three replicas sharing their counts behind one Envoy whose ext_proc
// cluster has all three (round robin, health-checked).
//
// (a) Requests spread over all three replicas; KEDA's generated client on replica a gets
// the request rate of all of them from GetMetrics and IsActive, and a's /status reports the
// merged total with every replica in reportedBy.
//
// (b) A request held on another replica makes a's StreamIsActive push true. The figure
// logged is the time from sending the HTTP request to Envoy to receiving true on a's
// stream (asserted loosely: under 500 ms). a's own held count stays 0 meanwhile.
func TestHAMergedView(t *testing.T) {
	t.Parallel()
	c := startHACluster(t)
	e := c.haEnvoy(t, "envoy", true)
	a := c.replicas[0]
	keda := scalerClient(t, a.Ports.Scaler)

	t.Run("scaler on one replica counts all", func(t *testing.T) { checkMergedRate(t, c, e.URL("gated")+"/", keda) })
	t.Run("cross-replica push", func(t *testing.T) { checkCrossReplicaPush(t, c, e.URL("gated")+"/", keda) })
	t.Run("wakegate status", func(t *testing.T) { checkStatusCommand(t, a) })
}

// checkStatusCommand runs the real `wakegate status` against replica a: its table shows
// app's merged count from all three replicas and both peers live.
func checkStatusCommand(t *testing.T, a *haReplica) {
	out, err := exec.CommandContext(t.Context(), binaries(t).Wakegate, "status", "--admin-addr", a.Ports.Admin).CombinedOutput()
	if err != nil {
		t.Fatalf("wakegate status: %v\n%s", err, out)
	}
	t.Logf("wakegate status --admin-addr <a>:\n%s", out)
	rows := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	if app := rows["app"]; len(app) != 9 || app[3] != "0" || app[len(app)-1] != "a,b,c" {
		t.Errorf("app row %q: want held 0, reported by a,b,c", app)
	}
	for _, id := range []string{"b", "c"} {
		if p := rows[id]; len(p) < 3 || p[2] != "yes" {
			t.Errorf("peer row %q: want %s live", p, id)
		}
	}
}

// checkMergedRate is part (a) of TestHAMergedView.
func checkMergedRate(t *testing.T, c *haCluster, url string, keda pb.ExternalScalerClient) {
	const n = 30
	spans := make([]reqSpan, 0, n)
	for range n {
		start := time.Now()
		if r := get(t, url, haWarmHost); r.status != http.StatusOK {
			t.Fatalf("request %d: status %d", len(spans)+1, r.status)
		}
		spans = append(spans, reqSpan{start, time.Now()})
	}
	a := c.replicas[0]
	merged := a.awaitRow(t, "app", "a's merged count of every request", func(r haRow) bool { return r.Merged.RequestsTotal == n })
	own := map[string]uint64{}
	var sum uint64
	for _, r := range c.replicas {
		own[r.id] = r.row(t, "app").RequestsTotal
		sum += own[r.id]
		if own[r.id] == 0 {
			t.Errorf("replica %s saw none of the %d requests: Envoy did not spread them", r.id, n)
		}
	}
	t.Logf("requests counted per replica %v; replica a: own %d, merged %d, reportedBy %v, merged rate %.3f/s",
		own, own["a"], merged.Merged.RequestsTotal, merged.ReportedBy, merged.Merged.RequestRate)
	if sum != n || !slices.Equal(merged.ReportedBy, []string{"a", "b", "c"}) {
		t.Errorf("own counts sum to %d (want %d), reportedBy %v (want a, b, c)", sum, n, merged.ReportedBy)
	}
	ref := &pb.ScaledObjectRef{Name: "app", Namespace: "default", ScalerMetadata: map[string]string{"window": "10s"}}
	checkRate(t, keda, ref, spans, 10*time.Second) // all n requests, not a's share
	if act, err := keda.IsActive(t.Context(), ref); err != nil || !act.GetResult() {
		t.Errorf("IsActive on a = %v, %v; want true", act.GetResult(), err)
	}
}

// checkCrossReplicaPush is part (b) of TestHAMergedView: five requests held on b or c,
// each pushing true on a's stream, then going away (false).
func checkCrossReplicaPush(t *testing.T, c *haCluster, url string, keda pb.ExternalScalerClient) {
	a := c.replicas[0]
	ref := &pb.ScaledObjectRef{Name: "cold", Namespace: "default",
		ScalerMetadata: map[string]string{"activeWithin": "0s", "metric": "concurrency"}}
	msgs := streamIsActive(t, keda, ref)
	if m := nextMsg(t, msgs, "the first StreamIsActive message"); m.active {
		t.Fatal("a's StreamIsActive starts with true for a target nobody holds")
	}
	results := make(chan asyncResult, 16)
	var remote []time.Duration
	for attempt := 0; len(remote) < 5 && attempt < 15; attempt++ {
		h := holdOne(t, t.Context(), c.replicas, results, url)
		m := nextMsg(t, msgs, "true after a cold request")
		if !m.active {
			t.Fatalf("a's stream pushed false while %s holds a request", h.holder)
		}
		delay := m.at.Sub(h.sent)
		if h.holder == "a" {
			t.Logf("held on a itself: local push after %v", delay.Round(10*time.Microsecond))
		} else {
			remote = append(remote, delay)
			if len(remote) == 1 {
				checkRemoteHold(t, a, keda, ref, h.holder)
			}
		}
		h.cancel()
		awaitResults(t, results, 1, 10*time.Second, "the cancelled request")
		if m := nextMsg(t, msgs, "false once the held request went away"); m.active {
			t.Fatal("a's stream pushed true again, want false")
		}
	}
	if len(remote) < 5 {
		t.Fatalf("only %d of 15 requests were held on b or c", len(remote))
	}
	slices.Sort(remote)
	t.Logf("cross-replica push (HTTP request sent → true on a's StreamIsActive), %d samples: min %v, median %v, max %v",
		len(remote), remote[0].Round(10*time.Microsecond), remote[len(remote)/2].Round(10*time.Microsecond),
		remote[len(remote)-1].Round(10*time.Microsecond))
	if remote[len(remote)-1] > 500*time.Millisecond { // asserted loosely: a push, not a poll
		t.Errorf("slowest cross-replica push took %v, want under 500ms", remote[len(remote)-1])
	}
}

// checkRemoteHold checks a while another replica holds the one request for cold: a holds
// nothing itself, its merged view and KEDA's calls show the held request.
func checkRemoteHold(t *testing.T, a *haReplica, keda pb.ExternalScalerClient, ref *pb.ScaledObjectRef, holder string) {
	t.Helper()
	r := a.row(t, "cold")
	if r.Held != 0 || r.Merged.Held != 1 || !slices.Contains(r.ReportedBy, holder) {
		t.Errorf("a's cold row: own held %d, merged held %d, reportedBy %v; want 0, 1, with %s", r.Held, r.Merged.Held, r.ReportedBy, holder)
	}
	if act, err := keda.IsActive(t.Context(), ref); err != nil || !act.GetResult() {
		t.Errorf("IsActive on a = %v, %v; want true", act.GetResult(), err)
	}
	got, err := keda.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: "s0-wakegate-concurrency"})
	if err != nil || len(got.GetMetricValues()) != 1 || got.GetMetricValues()[0].GetMetricValueFloat() != 1 {
		t.Errorf("GetMetrics concurrency on a = %v, %v; want 1", got.GetMetricValues(), err)
	}
}
