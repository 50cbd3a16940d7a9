package gate

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// counter reads one series of a counter or gauge vector.
func counter(t *testing.T, v interface {
	WithLabelValues(...string) prometheus.Counter
}, labels ...string) float64 {
	t.Helper()
	return testutil.ToFloat64(v.WithLabelValues(labels...))
}

// histogram returns the sample count and sum of name{target, outcome} in reg.
func histogram(t *testing.T, reg *prometheus.Registry, name, target, outcome string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["target"] == target && got["outcome"] == outcome {
				return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0, 0
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{},
			tgt("up", pol(), "up.test"),
			tgt("down", pol(), "down.test"),
			tgt("gone", pol(), "gone.test"),
			tgt("slow", Policy{HoldTimeout: 10 * time.Second}, "slow.test"),
			tgt("tiny", Policy{HoldTimeout: testHold, MaxHeld: 1}, "tiny.test"),
			tgt("page", Policy{HoldTimeout: testHold, WaitingPage: PageImmediate}, "page.test"))
		h.p.setReady("up", true)
		ctx := t.Context()
		browser := reqFor("page.test")
		browser.Browser = true

		// t=0
		h.g.Check(ctx, reqFor("none.test"))
		h.g.Check(ctx, reqFor("up.test"))
		h.g.Check(ctx, browser)
		down := h.start(ctx, reqFor("down.test"))
		tiny := h.start(ctx, reqFor("tiny.test"))
		gctx, cancel := context.WithCancel(ctx)
		gone := h.start(gctx, reqFor("gone.test"))
		synctest.Wait()
		h.g.Check(ctx, reqFor("tiny.test")) // over tiny's bound
		time.Sleep(1500 * time.Millisecond)
		cancel() // t=1.5
		<-gone
		if got := testutil.ToFloat64(h.m.Held.WithLabelValues("down")); got != 1 {
			t.Errorf("held_requests{down} while held = %v", got)
		}
		time.Sleep(time.Second)
		h.p.setReady("down", true) // t=2.5
		<-down
		h.g.Check(ctx, reqFor("slow.test")) // times out at t=12.5
		h.g.Drain()
		<-tiny
		h.g.Check(ctx, reqFor("slow.test")) // draining

		counters := []struct {
			name      string
			got, want float64
		}{
			{"unmatched", testutil.ToFloat64(h.m.Unmatched), 1},
			{"requests{up,ready}", counter(t, h.m.Requests, "up", "ready"), 1},
			{"requests{down,released}", counter(t, h.m.Requests, "down", "released"), 1},
			{"requests{gone,canceled}", counter(t, h.m.Requests, "gone", "canceled"), 1},
			{"requests{slow,timeout}", counter(t, h.m.Requests, "slow", "timeout"), 1},
			{"requests{slow,draining}", counter(t, h.m.Requests, "slow", "draining"), 1},
			{"requests{tiny,overload}", counter(t, h.m.Requests, "tiny", "overload"), 1},
			{"requests{tiny,draining}", counter(t, h.m.Requests, "tiny", "draining"), 1},
			{"requests{page,waiting_page}", counter(t, h.m.Requests, "page", "waiting_page"), 1},
			{"rejected{tiny,overload}", counter(t, h.m.Rejected, "tiny", "overload"), 1},
			{"rejected{page,waiting_page}", counter(t, h.m.Rejected, "page", "waiting_page"), 1},
			{"rejected{slow,draining}", counter(t, h.m.Rejected, "slow", "draining"), 1},
			{"hold_timeouts{slow}", counter(t, h.m.HoldTimeouts, "slow"), 1},
			{"wakeups{down,ok}", counter(t, h.m.Wakeups, "down", "ok"), 2}, // at 0 and 1s
			{"wakeups{page,ok}", counter(t, h.m.Wakeups, "page", "ok"), 4}, // at 0, 1, 3 and 7s
			{"wakeups{slow,ok}", counter(t, h.m.Wakeups, "slow", "ok"), 4}, // at 2.5, 3.5, 5.5, 9.5s
			{"wakeups{up,ok}", counter(t, h.m.Wakeups, "up", "ok"), 0},     // ready: never woken
			{"wakeups{down,error}", counter(t, h.m.Wakeups, "down", "error"), 0},
			{"held_requests{down}", testutil.ToFloat64(h.m.Held.WithLabelValues("down")), 0},
			{"held_requests{tiny}", testutil.ToFloat64(h.m.Held.WithLabelValues("tiny")), 0},
		}
		for _, c := range counters {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		histograms := []struct {
			target, outcome string
			count           uint64
			sum             float64
		}{
			{"down", "released", 1, 2.5},
			{"gone", "canceled", 1, 1.5},
			{"slow", "timeout", 1, 10},
			{"tiny", "draining", 1, 12.5},
			{"up", "ready", 0, 0}, // not held: not observed
		}
		for _, hc := range histograms {
			if n, sum := histogram(t, h.reg, "wakegate_hold_duration_seconds", hc.target, hc.outcome); n != hc.count || sum != hc.sum {
				t.Errorf("hold_duration{%s,%s}: count %d sum %v, want %d and %v", hc.target, hc.outcome, n, sum, hc.count, hc.sum)
			}
		}
	})
}
