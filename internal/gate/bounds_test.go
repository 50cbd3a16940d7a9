package gate

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestMaxHeld(t *testing.T) {
	type send struct {
		host string
		held bool // false: answered Overload at once
	}
	tests := []struct {
		name  string
		opts  Options
		sends []send
	}{
		{
			name: "per target",
			sends: []send{
				{"a.test", true}, {"a.test", true}, {"a.test", true}, {"a.test", false}, {"a.test", false},
				{"b.test", true}, // another target has its own bound
			},
		},
		{
			name: "global",
			opts: Options{MaxHeld: 4},
			sends: []send{
				{"a.test", true}, {"a.test", true}, {"a.test", true},
				{"b.test", true}, {"b.test", false}, {"a.test", false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := Policy{HoldTimeout: testHold, MaxHeld: 3}
				h := newHarness(t, tt.opts, tgt("a", p, "a.test"), tgt("b", p, "b.test"))
				var held []<-chan Decision
				heldBy := map[string]int64{}
				for i, s := range tt.sends {
					r := reqFor(s.host)
					r.Browser = true
					ch := h.start(t.Context(), r)
					synctest.Wait()
					if !s.held {
						d := <-ch
						if d.Outcome != Overload || d.HTML || d.RetryAfter != DefaultRetryAfter || d.Target == "" {
							t.Errorf("send %d to %s: %+v, want Overload (plain, with Retry-After)", i, s.host, d)
						}
						h.g.Finish(d)
						continue
					}
					if !pending(ch) {
						t.Fatalf("send %d to %s was not held", i, s.host)
					}
					held = append(held, ch)
					heldBy[s.host[:1]]++
				}
				for name, n := range heldBy {
					if s := h.stats(t, name); s.Held != n || s.InFlight != n {
						t.Errorf("%s: Stats = %+v, want %d held and in flight", name, s, n)
					}
					if i := h.info(t, name); i.Held != n {
						t.Errorf("%s: TargetInfo.Held = %d, want %d", name, i.Held, n)
					}
				}
				h.p.setReady("a", true)
				h.p.setReady("b", true)
				for _, ch := range held {
					if d := <-ch; d.Outcome != Released {
						t.Errorf("held request: %+v, want Released", d)
					}
				}
				// The slots are free again.
				h.p.setReady("a", false)
				ch := h.start(t.Context(), reqFor("a.test"))
				synctest.Wait()
				if !pending(ch) {
					t.Fatalf("after the release, a new request was not held: %+v", <-ch)
				}
				h.p.setReady("a", true)
				if d := <-ch; d.Outcome != Released {
					t.Errorf("new held request: %+v", d)
				}
			})
		})
	}
}

func TestPageImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hold = 10 * time.Second
		h := newHarness(t, Options{}, tgt("app", Policy{HoldTimeout: hold, WaitingPage: PageImmediate}, "app.test"))
		r := reqFor("app.test")
		r.Browser = true
		r.OnHold = func(time.Duration) { t.Error("OnHold called for a waiting-page answer") }
		d := h.g.Check(t.Context(), r)
		want := Decision{Outcome: WaitPage, Target: "app", RetryAfter: DefaultRetryAfter, HTML: true}
		if d != want {
			t.Fatalf("Check = %+v, want %+v", d, want)
		}
		if s := h.stats(t, "app"); s.InFlight != 1 || s.Held != 0 {
			t.Errorf("Stats = %+v, want in flight, not held", s)
		}
		h.g.Finish(d)
		synctest.Wait()
		if got := len(h.p.wakes("app")); got != 1 {
			t.Errorf("the waiting page triggered %d Wake calls, want 1", got)
		}
		if i := h.info(t, "app"); i.State != StateWaking {
			t.Errorf("State = %s, want waking", i.State)
		}

		api := h.start(t.Context(), reqFor("app.test")) // not a browser: held
		synctest.Wait()
		if !pending(api) {
			t.Fatalf("non-browser request was not held: %+v", <-api)
		}
		time.Sleep(2 * time.Second)
		h.p.setReady("app", true)
		if d := <-api; d.Outcome != Released || d.Held != 2*time.Second {
			t.Errorf("non-browser request: %+v", d)
		}
		if d := h.g.Check(t.Context(), r); d.Outcome != Ready {
			t.Errorf("browser to the ready target: %+v", d)
		}
	})
}

// TestPageImmediateKeepsWaking: with no request held, the waiting page keeps the wake loop
// going for the hold timeout, then lets it stop.
func TestPageImmediateKeepsWaking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("app", Policy{HoldTimeout: 10 * time.Second, WaitingPage: PageImmediate}, "app.test"))
		r := reqFor("app.test")
		r.Browser = true
		start := time.Now()
		if d := h.g.Check(t.Context(), r); d.Outcome != WaitPage {
			t.Fatalf("Check = %+v", d)
		}
		time.Sleep(time.Minute)
		want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}
		if got := offsets(start, h.p.wakes("app")); len(got) != len(want) || got[3] != want[3] {
			t.Errorf("Wake calls at %v, want %v", got, want)
		}
		if i := h.info(t, "app"); i.State != StateIdle {
			t.Errorf("State = %s, want idle once the interest passed", i.State)
		}
	})
}

func TestDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{},
			tgt("up", pol(), "up.test"),
			tgt("down", pol(), "down.test"),
			tgt("soon", pol(), "soon.test"),
			tgt("stale", pol(), "stale.test"),
			tgt("page", Policy{HoldTimeout: testHold, WaitingPage: PageImmediate}, "page.test"),
			tgt("off", Policy{HoldTimeout: testHold, WaitingPage: PageOff}, "off.test"))
		h.p.setReady("up", true)
		browser := func(host string) Request { r := reqFor(host); r.Browser = true; return r }
		downBrowser := h.start(t.Context(), browser("down.test"))
		downAPI := h.start(t.Context(), reqFor("down.test"))
		soon := h.start(t.Context(), reqFor("soon.test"))
		stale := h.start(t.Context(), reqFor("stale.test"))
		const heldFor = 900 * time.Millisecond // before the first back-off
		time.Sleep(heldFor)
		if h.g.Draining() {
			t.Fatal("Draining before Drain")
		}
		h.p.setReady("soon", true)
		h.p.setReadyQuietly("stale", true) // only Drain wakes this one: it must look again
		h.g.Drain()
		h.g.Drain() // idempotent
		if !h.g.Draining() {
			t.Fatal("not Draining after Drain")
		}
		checks := []struct {
			name string
			got  Decision
			want Decision
		}{
			{"held, target became ready", <-soon, Decision{Outcome: Released, Target: "soon", Held: heldFor, RetryAfter: DefaultRetryAfter}},
			{"held, target ready when drained", <-stale, Decision{Outcome: Released, Target: "stale", Held: heldFor, RetryAfter: DefaultRetryAfter}},
			{"held browser", <-downBrowser, Decision{Outcome: Draining, Target: "down", Held: heldFor, RetryAfter: DefaultRetryAfter, HTML: true}},
			{"held API client", <-downAPI, Decision{Outcome: Draining, Target: "down", Held: heldFor, RetryAfter: DefaultRetryAfter}},
			{"new, not ready", h.g.Check(t.Context(), reqFor("down.test")), Decision{Outcome: Draining, Target: "down", RetryAfter: DefaultRetryAfter}},
			{"new browser, not ready", h.g.Check(t.Context(), browser("down.test")), Decision{Outcome: Draining, Target: "down", RetryAfter: DefaultRetryAfter, HTML: true}},
			{"new browser, page immediate", h.g.Check(t.Context(), browser("page.test")), Decision{Outcome: Draining, Target: "page", RetryAfter: DefaultRetryAfter, HTML: true}},
			{"new browser, page off", h.g.Check(t.Context(), browser("off.test")), Decision{Outcome: Draining, Target: "off", RetryAfter: DefaultRetryAfter}},
			{"new, ready", h.g.Check(t.Context(), reqFor("up.test")), Decision{Outcome: Ready, Target: "up"}},
			{"new, became ready", h.g.Check(t.Context(), reqFor("soon.test")), Decision{Outcome: Ready, Target: "soon"}},
			{"new, unmatched", h.g.Check(t.Context(), reqFor("none.test")), Decision{Outcome: Pass}},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: %+v, want %+v", c.name, c.got, c.want)
			}
			h.g.Finish(c.got)
		}
		time.Sleep(time.Minute)
		for name, want := range map[string]int{"page": 0, "off": 0, "down": 1} {
			if n := len(h.p.wakes(name)); n != want {
				t.Errorf("%s: %d Wake calls, want %d (none for requests answered Draining)", name, n, want)
			}
		}
		for _, name := range []string{"up", "down", "soon", "stale", "page", "off"} {
			if s := h.stats(t, name); s.Busy() {
				t.Errorf("%s: Stats = %+v after every request finished", name, s)
			}
		}
	})
}
