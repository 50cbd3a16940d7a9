package gate

import (
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/route"
)

func TestNewErrors(t *testing.T) {
	p, tr := newFakeProvider(), activity.New(0)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no provider", Options{Tracker: tr}, "Provider and Tracker are required"},
		{"no tracker", Options{Provider: p}, "Provider and Tracker are required"},
		{"negative MaxHeld", Options{Provider: p, Tracker: tr, MaxHeld: -1}, "MaxHeld must not be negative"},
		{"negative RetryAfter", Options{Provider: p, Tracker: tr, RetryAfter: -time.Second}, "RetryAfter must not be negative"},
		{"negative WakeBackoff", Options{Provider: p, Tracker: tr, WakeBackoff: -time.Second}, "WakeBackoff must not be negative"},
		{"negative MaxWakeBackoff", Options{Provider: p, Tracker: tr, MaxWakeBackoff: -time.Second}, "MaxWakeBackoff must not be negative"},
	}
	for _, tt := range tests {
		g, err := New(tt.opts)
		if err == nil {
			g.Close()
			t.Errorf("%s: New succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New error %q does not contain %q", tt.name, err, tt.want)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	good := tgt("app", pol(), "app.test")
	tests := []struct {
		name    string
		targets []Target
		want    []string
	}{
		{"hold timeout zero", []Target{tgt("x", Policy{}, "x.test")}, []string{`target "x": holdTimeout must be positive`}},
		{"hold timeout negative", []Target{tgt("x", Policy{HoldTimeout: -1}, "x.test")}, []string{`target "x": holdTimeout must be positive`}},
		{"max held negative", []Target{tgt("x", Policy{HoldTimeout: time.Second, MaxHeld: -1}, "x.test")}, []string{`target "x": maxHeld must not be negative`}},
		{"unknown waiting page", []Target{tgt("x", Policy{HoldTimeout: time.Second, WaitingPage: 7}, "x.test")}, []string{`target "x": unknown waitingPage 7`}},
		{"bad host", []Target{tgt("x", pol(), "bad host")}, []string{`target "x": hosts: host "bad host"`}},
		{"host claimed twice", []Target{good, tgt("x", pol(), "app.test")}, []string{`target "x": host "app.test" path prefix "/" is already claimed by target "app"`}},
		{"same name, other policy", []Target{good, tgt("app", Policy{HoldTimeout: time.Second}, "app2.test")}, []string{`target "app": listed more than once with different policies`}},
		{"every problem", []Target{tgt("x", Policy{}, "x.test"), tgt("y", pol(), "*")}, []string{`target "x": holdTimeout`, `target "y": hosts`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, good)
			h.p.setReady("app", true)
			err := h.g.Configure(tt.targets)
			if err == nil {
				t.Fatal("Configure succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// The previous configuration is still in place.
			if d := h.g.Check(t.Context(), reqFor("app.test")); d.Outcome != Ready {
				t.Errorf("after the failed Configure: %+v", d)
			}
			if p, ok := h.g.Policy("app"); !ok || p.HoldTimeout != testHold {
				t.Errorf("after the failed Configure: Policy = %+v, %v", p, ok)
			}
			if got := h.g.Targets(); len(got) != 1 || got[0].Name != "app" {
				t.Errorf("after the failed Configure: Targets = %+v", got)
			}
		})
	}
}

func TestConfigureSameNameTwice(t *testing.T) {
	h := newHarness(t, Options{}, tgt("app", pol(), "a.test"),
		Target{Rule: route.Rule{Target: "app", Hosts: []string{"b.test"}, Headers: map[string]string{"x": "1"}}, Policy: pol()})
	h.p.setReady("app", true)
	for _, host := range []string{"a.test", "b.test"} {
		r := reqFor(host)
		r.Headers = hdrs{"x": "1"}
		if d := h.g.Check(t.Context(), r); d.Outcome != Ready || d.Target != "app" {
			t.Errorf("%s: %+v", host, d)
		}
	}
	if got := h.g.Targets(); len(got) != 1 {
		t.Errorf("Targets = %+v, want one", got)
	}
}

func TestPolicyAndTargets(t *testing.T) {
	h := newHarness(t, Options{},
		tgt("b", Policy{HoldTimeout: time.Second, WaitingPage: PageOff, MaxHeld: 5}, "b.test"),
		tgt("a", pol(), "a.test"))
	if p, ok := h.g.Policy("a"); !ok || p != (Policy{HoldTimeout: testHold, MaxHeld: DefaultMaxHeld}) {
		t.Errorf("Policy(a) = %+v, %v; want MaxHeld defaulted", p, ok)
	}
	if p, ok := h.g.Policy("none"); ok {
		t.Errorf("Policy(none) = %+v, true", p)
	}
	h.p.setReady("b", true)
	want := []TargetInfo{
		{Name: "a", State: StateIdle, Policy: Policy{HoldTimeout: testHold, MaxHeld: DefaultMaxHeld}},
		{Name: "b", State: StateReady, Ready: true, Policy: Policy{HoldTimeout: time.Second, WaitingPage: PageOff, MaxHeld: 5}},
	}
	if got := h.g.Targets(); !slices.Equal(got, want) {
		t.Errorf("Targets() = %+v\nwant %+v", got, want)
	}
}

// TestReconfigureKeepsHeld: a held request survives Configure; its target keeps one state,
// so the held count and the wake loop carry over and the new policy applies to new requests.
func TestReconfigureKeepsHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
		start := time.Now()
		first := h.start(t.Context(), reqFor("app.test"))
		time.Sleep(2 * time.Second)
		if err := h.g.Configure([]Target{tgt("app", Policy{HoldTimeout: 5 * time.Second}, "app.test", "app2.test")}); err != nil {
			t.Fatal(err)
		}
		second := h.start(t.Context(), reqFor("app2.test"))
		synctest.Wait()
		if i := h.info(t, "app"); i.Held != 2 || i.State != StateWaking || i.Policy.HoldTimeout != 5*time.Second {
			t.Errorf("after Configure: TargetInfo = %+v", i)
		}
		time.Sleep(5500 * time.Millisecond) // t=7.5s: the second times out at 7s, the first waits on
		if d := <-second; d.Outcome != TimedOut || d.Held != 5*time.Second {
			t.Errorf("request under the new policy: %+v", d)
		}
		if !pending(first) {
			t.Fatalf("request under the old policy ended early: %+v", <-first)
		}
		want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second} // one loop
		if got := offsets(start, h.p.wakes("app")); !slices.Equal(got, want) {
			t.Errorf("Wake calls at %v, want %v", got, want)
		}
		h.p.setReady("app", true)
		if d := <-first; d.Outcome != Released || d.Held != 7500*time.Millisecond {
			t.Errorf("request under the old policy: %+v", d)
		}
	})
}

// TestRemovedTarget: a request held for a target that Configure removes is still answered;
// new requests for it pass.
func TestRemovedTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("old", pol(), "old.test"))
		ch := h.start(t.Context(), reqFor("old.test"))
		synctest.Wait()
		if err := h.g.Configure([]Target{tgt("new", pol(), "new.test")}); err != nil {
			t.Fatal(err)
		}
		if d := h.g.Check(t.Context(), reqFor("old.test")); d.Outcome != Pass {
			t.Errorf("new request for the removed target: %+v", d)
		}
		if got := h.g.Targets(); len(got) != 1 || got[0].Name != "new" {
			t.Errorf("Targets = %+v", got)
		}
		h.p.setReady("old", true)
		d := <-ch
		if d.Outcome != Released || d.Target != "old" {
			t.Errorf("held request: %+v", d)
		}
		h.g.Finish(d)
		if s := h.stats(t, "old"); s.Busy() {
			t.Errorf("Stats = %+v", s)
		}
	})
}

// hdrs is a route.Headers over a map with lower-case keys.
type hdrs map[string]string

func (h hdrs) Get(name string) (string, bool) { v, ok := h[name]; return v, ok }

var _ route.Headers = hdrs(nil)
