package gate

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/route"
	"github.com/wakegate/wakegate/internal/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testHold = 30 * time.Second

// harness is a Gate over a fakeProvider, with its tracker and metrics registry.
type harness struct {
	g   *Gate
	p   *fakeProvider
	tr  *activity.Tracker
	m   *telemetry.Metrics
	reg *prometheus.Registry
}

// newHarness builds a Gate with opts (Provider, Tracker and Metrics filled in), configured
// with targets; the Gate is closed when the test ends.
func newHarness(t testing.TB, opts Options, targets ...Target) *harness {
	t.Helper()
	h := &harness{p: newFakeProvider(), tr: activity.New(0), reg: prometheus.NewRegistry()}
	var err error
	if h.m, err = telemetry.NewMetrics(h.reg); err != nil {
		t.Fatal(err)
	}
	opts.Provider, opts.Tracker, opts.Metrics = h.p, h.tr, h.m
	if h.g, err = New(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.g.Close)
	if err := h.g.Configure(targets); err != nil {
		t.Fatal(err)
	}
	return h
}

// tgt is a target named name for hosts, with policy pol.
func tgt(name string, pol Policy, hosts ...string) Target {
	return Target{Rule: route.Rule{Target: name, Hosts: hosts}, Policy: pol}
}

// pol is a policy holding for testHold.
func pol() Policy { return Policy{HoldTimeout: testHold} }

func reqFor(host string) Request {
	return Request{Request: route.Request{Authority: host, Path: "/"}}
}

// start runs Check on its own goroutine; the Decision arrives on the returned channel.
func (h *harness) start(ctx context.Context, r Request) <-chan Decision {
	ch := make(chan Decision, 1)
	go func() { ch <- h.g.Check(ctx, r) }()
	return ch
}

func (h *harness) stats(t *testing.T, target string) activity.Stats {
	t.Helper()
	s, _ := h.tr.Stats(target)
	return s
}

func (h *harness) info(t *testing.T, target string) TargetInfo {
	t.Helper()
	for _, i := range h.g.Targets() {
		if i.Name == target {
			return i
		}
	}
	t.Fatalf("Targets() has no %q", target)
	return TargetInfo{}
}

// offsets turns wake times into durations since start.
func offsets(start time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start)
	}
	return out
}

func pending(ch <-chan Decision) bool {
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

func TestReadyAtOnce(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{"by host", reqFor("app.test")},
		{"by host with port and query", Request{Request: route.Request{Authority: "APP.test:8080", Path: "/x?y=1"}}},
		{"by target override", Request{Target: "app", Request: route.Request{Authority: "elsewhere", Path: "/"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
				h.p.setReady("app", true)
				held := false
				tt.req.OnHold = func(time.Duration) { held = true }
				d := h.g.Check(t.Context(), tt.req)
				want := Decision{Outcome: Ready, Target: "app"}
				if d != want {
					t.Fatalf("Check = %+v, want %+v", d, want)
				}
				if held {
					t.Error("OnHold called for a ready target")
				}
				if s := h.stats(t, "app"); s.InFlight != 1 || s.Held != 0 || s.RequestsTotal != 1 {
					t.Errorf("before Finish: Stats = %+v", s)
				}
				h.g.Finish(d)
				if s := h.stats(t, "app"); s.InFlight != 0 || s.RequestsTotal != 1 {
					t.Errorf("after Finish: Stats = %+v", s)
				}
				synctest.Wait()
				if w := h.p.wakes("app"); len(w) != 0 {
					t.Errorf("Wake called %d times for a ready target", len(w))
				}
			})
		})
	}
}

func TestPass(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{"unknown host", reqFor("other.test")},
		{"known path only on another host", Request{Request: route.Request{Authority: "other.test", Path: "/app"}}},
		{"unknown target override", Request{Target: "nope", Request: route.Request{Authority: "app.test", Path: "/"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
			d := h.g.Check(t.Context(), tt.req)
			if d != (Decision{Outcome: Pass}) {
				t.Fatalf("Check = %+v, want Pass", d)
			}
			h.g.Finish(d) // a no-op for Pass
			if got := h.tr.Targets(); len(got) != 0 {
				t.Errorf("an unmatched request was counted: tracker targets %q", got)
			}
			if w := h.p.wakes("app"); len(w) != 0 {
				t.Errorf("Wake called for an unmatched request")
			}
		})
	}
}

func TestNoTargetsConfigured(t *testing.T) {
	g, err := New(Options{Provider: newFakeProvider(), Tracker: activity.New(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if d := g.Check(t.Context(), reqFor("a.test")); d.Outcome != Pass {
		t.Errorf("Check before Configure = %+v, want Pass", d)
	}
	if got := g.Targets(); len(got) != 0 {
		t.Errorf("Targets() = %+v", got)
	}
}

// A request deadline earlier than the hold timeout ends the hold as a timeout at the
// deadline (counted as one), with the page for browsers; a later one changes nothing.
func TestHoldDeadline(t *testing.T) {
	tests := []struct {
		name     string
		deadline time.Duration // from the start; 0: none
		wantHeld time.Duration
	}{
		{"deadline first", 3 * time.Second, 3 * time.Second},
		{"hold timeout first", time.Hour, testHold},
		{"deadline already passed", -time.Second, 0},
		{"no deadline", 0, testHold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
				r := reqFor("app.test")
				r.Browser = true
				if tt.deadline != 0 {
					r.Deadline = time.Now().Add(tt.deadline)
				}
				var onHold time.Duration
				r.OnHold = func(d time.Duration) { onHold = d }
				d := h.g.Check(t.Context(), r)
				h.g.Finish(d)
				if d.Outcome != TimedOut || d.Held != tt.wantHeld || !d.HTML || onHold != tt.wantHeld {
					t.Errorf("Check = %+v (OnHold %v), want a browser timeout after %v", d, onHold, tt.wantHeld)
				}
				h.g.Close()
			})
		})
	}
}
