package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// viewSample is what a's /status showed at one moment after b was killed.
type viewSample struct {
	since    time.Duration // since the SIGKILL
	held     int64         // merged held of cold
	total    uint64        // merged requestsTotal of app
	rate     float64       // merged requestRate of app
	present  bool          // b is in a's view
	live     bool          // … and live
	staleFor string
}

// kill is part (d) of TestHAReplicaLoss.
func (run *lossRun) kill(t *testing.T) {
	a, b := run.c.replicas[0], run.c.replicas[1]
	for i := 0; i < 10 && (run.onOpen["a"] < 1 || run.onOpen["b"] < 1); i++ {
		run.onOpen[holdOne(t, run.ctx, []*haReplica{a, b}, run.heldOpen, run.openURL).holder]++
	}
	t.Logf("held before the kill, by replica: through the fail-closed Envoy %v, through the fail-open one %v", run.onClosed, run.onOpen)
	if run.onOpen["a"] < 1 || run.onOpen["b"] < 1 || run.onClosed["b"] < 1 {
		t.Fatalf("held %v (fail-closed), %v (fail-open); want b to hold through both and a through the fail-open one", run.onClosed, run.onOpen)
	}
	aHeld, bHeld := int64(run.onClosed["a"]+run.onOpen["a"]), int64(run.onClosed["b"]+run.onOpen["b"])
	before := a.awaitRow(t, "cold", "a's merged held", func(r haRow) bool { return r.Merged.Held == aHeld+bHeld })

	killed := time.Now()
	b.kill(t)
	for _, r := range awaitResults(t, run.held, run.onClosed["b"], 10*time.Second, "b's held requests, fail-closed Envoy") {
		t.Logf("held on b, fail-closed Envoy: %d %q %v after SIGKILL", r.status, r.body, r.at.Sub(killed).Round(time.Millisecond))
		if r.err != nil || r.status != http.StatusInternalServerError {
			t.Errorf("request held on b through the fail-closed Envoy: status %d, err %v; want 500", r.status, r.err)
		}
	}
	for _, r := range awaitResults(t, run.heldOpen, run.onOpen["b"], 10*time.Second, "b's held requests, fail-open Envoy") {
		t.Logf("held on b, fail-open Envoy: %d from %q, %v after SIGKILL", r.status, r.header.Get("x-sample-app"), r.at.Sub(killed).Round(time.Millisecond))
		if r.err != nil || r.status != http.StatusOK || r.header.Get("x-seen-cold-start") != "" {
			t.Errorf("request held on b through the fail-open Envoy: status %d, x-seen-cold-start %q, err %v; want 200 from the app, unheld",
				r.status, r.header.Get("x-seen-cold-start"), r.err)
		}
	}
	run.onClosed["b"], run.onOpen["b"] = 0, 0
	assertUnanswered(t, run.held, "a's held requests (fail-closed Envoy)")
	assertUnanswered(t, run.heldOpen, "a's held requests (fail-open Envoy)")

	samples := watchDrop(t, a, "b", killed)
	checkKeptUntilStale(t, samples, before.Merged.Held, aHeld)
	checkDrops(t, a, 1, 1)
	early := failures(run.warm.snapshot(), killed, killed.Add(time.Second))
	t.Logf("warm traffic (fail-closed Envoy) in the second after the kill: %d of %d requests failed", len(early),
		countSince(run.warm.snapshot(), killed)-countSince(run.warm.snapshot(), killed.Add(time.Second)))
	for _, r := range early {
		t.Logf("  sent %v after the kill: %d %v", r.sent.Sub(killed).Round(time.Millisecond), r.status, r.err)
	}
	run.checkWarm(t, killed.Add(time.Second), "1s after b's SIGKILL")
}

// watchDrop samples r's /status until peer leaves its view, and returns the samples (the
// last one taken after the drop).
func watchDrop(t *testing.T, r *haReplica, peer string, since time.Time) []viewSample {
	t.Helper()
	var out []viewSample
	err := harness.Poll(deadline(t, 20*time.Second), func() (bool, error) {
		doc, err := r.status(t.Context())
		if err != nil {
			return false, harness.GiveUp(err)
		}
		s := viewSample{since: time.Since(since)}
		for _, p := range doc.Peers {
			if p.Replica == peer {
				s.present, s.live, s.staleFor = true, p.Live, p.StaleFor
			}
		}
		for _, ts := range doc.Targets {
			switch ts.Name {
			case "cold":
				s.held = ts.Merged.Held
			case "app":
				s.total, s.rate = ts.Merged.RequestsTotal, ts.Merged.RequestRate
			}
		}
		out = append(out, s)
		return !s.present, fmt.Errorf("%s still in %s's view", peer, r.id)
	})
	if err != nil {
		t.Fatalf("waiting for %s to drop %s: %v", r.id, peer, err)
	}
	return out
}

// checkKeptUntilStale checks the samples: the dead peer's held count stayed in the merged
// count (withPeer) until it was dropped, no sooner than the staleness bound, after which
// only the survivor's own (own) remained; the rate never fell to zero.
func checkKeptUntilStale(t *testing.T, samples []viewSample, withPeer, own int64) {
	t.Helper()
	last, drop := samples[len(samples)-2], samples[len(samples)-1]
	var silent time.Duration
	for _, s := range samples[:len(samples)-1] {
		if s.held != withPeer || s.rate <= 0 {
			t.Errorf("%v after the kill: merged held %d, rate %.3f; want %d (the dead replica's kept) and > 0", s.since, s.held, s.rate, withPeer)
		}
		if !s.live && silent == 0 {
			silent = s.since
		}
	}
	t.Logf("a's view after b's SIGKILL (%d samples): b still counted until %v (staleFor %s; not live from %v); dropped by %v. "+
		"Merged held %d → %d, merged app requestsTotal %d → %d, merged app rate %.3f/s → %.3f/s",
		len(samples), last.since.Round(time.Millisecond), last.staleFor, silent.Round(time.Millisecond), drop.since.Round(time.Millisecond),
		last.held, drop.held, last.total, drop.total, last.rate, drop.rate)
	if drop.held != own {
		t.Errorf("merged held %d after the drop, want a's own %d", drop.held, own)
	}
	if last.since < haStaleness || drop.since > haStaleness+5*time.Second {
		t.Errorf("b dropped between %v and %v after the kill, want after the %v staleness and not long after", last.since, drop.since, haStaleness)
	}
	if silent == 0 {
		t.Errorf("b was live in every sample until it was dropped; want it shown not live once silent")
	}
}
