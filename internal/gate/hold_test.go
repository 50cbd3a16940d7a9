package gate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestHeldThenReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
		start := time.Now()
		var holds []time.Duration
		r := reqFor("app.test")
		r.OnHold = func(d time.Duration) { holds = append(holds, d) }
		ch := h.start(t.Context(), r)
		synctest.Wait()
		if !pending(ch) {
			t.Fatal("request to a target that is not ready was not held")
		}
		if s := h.stats(t, "app"); s.Held != 1 || s.InFlight != 1 {
			t.Errorf("while held: Stats = %+v", s)
		}
		if i := h.info(t, "app"); i.Held != 1 || i.State != StateWaking || i.Ready {
			t.Errorf("while held: TargetInfo = %+v", i)
		}
		time.Sleep(700 * time.Millisecond) // before the first back-off (1s)
		h.p.setReady("app", true)
		d := <-ch
		want := Decision{Outcome: Released, Target: "app", Held: 700 * time.Millisecond, RetryAfter: DefaultRetryAfter}
		if d != want {
			t.Errorf("Check = %+v, want %+v", d, want)
		}
		if !slices.Equal(holds, []time.Duration{testHold}) {
			t.Errorf("OnHold calls = %v, want one with %v", holds, testHold)
		}
		synctest.Wait()
		if s := h.stats(t, "app"); s.Held != 0 || s.InFlight != 1 {
			t.Errorf("after release: Stats = %+v", s)
		}
		if i := h.info(t, "app"); i.Held != 0 || i.State != StateReady {
			t.Errorf("after release: TargetInfo = %+v", i)
		}
		h.g.Finish(d)
		time.Sleep(time.Hour) // the wake loop ended: no more Wake calls
		if got := offsets(start, h.p.wakes("app")); !slices.Equal(got, []time.Duration{0}) {
			t.Errorf("Wake calls at %v, want exactly one at 0", got)
		}
	})
}

func TestWakeBackoff(t *testing.T) {
	tests := []struct {
		name        string
		first, most time.Duration
		wait        time.Duration
		want        []time.Duration // Wake call times, from the start of the hold
	}{
		{"defaults", 0, 0, 100*time.Second + time.Millisecond,
			[]time.Duration{0, 1e9, 3e9, 7e9, 15e9, 31e9, 61e9, 91e9}},
		{"capped early", 2 * time.Second, 5 * time.Second, 20*time.Second + time.Millisecond,
			[]time.Duration{0, 2e9, 6e9, 11e9, 16e9}},
		{"first above the cap", 10 * time.Second, 5 * time.Second, 21 * time.Second,
			[]time.Duration{0, 10e9, 15e9, 20e9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, Options{WakeBackoff: tt.first, MaxWakeBackoff: tt.most},
					tgt("app", Policy{HoldTimeout: 5 * time.Minute}, "app.test"))
				start := time.Now()
				ch := h.start(t.Context(), reqFor("app.test"))
				time.Sleep(tt.wait)
				if got := offsets(start, h.p.wakes("app")); !slices.Equal(got, tt.want) {
					t.Errorf("Wake calls at %v, want %v", got, tt.want)
				}
				h.p.setReady("app", true)
				if d := <-ch; d.Outcome != Released || d.Held != tt.wait {
					t.Errorf("Check = %+v, want Released after %v", d, tt.wait)
				}
			})
		})
	}
}

func TestWakeErrorRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
		h.p.failWake(errors.New("boom"))
		start := time.Now()
		ch := h.start(t.Context(), reqFor("app.test"))
		time.Sleep(1500 * time.Millisecond)
		if got := len(h.p.wakes("app")); got != 2 {
			t.Errorf("after 1.5s of failing: %d Wake calls, want 2", got)
		}
		if got := counter(t, h.m.Wakeups, "app", "error"); got != 2 {
			t.Errorf("wakeups{result=error} = %v, want 2", got)
		}
		h.p.failWake(nil)
		time.Sleep(2 * time.Second) // the third call, at 3s, succeeds
		if got := counter(t, h.m.Wakeups, "app", "ok"); got != 1 {
			t.Errorf("wakeups{result=ok} = %v, want 1", got)
		}
		h.p.setReady("app", true)
		if d := <-ch; d.Outcome != Released {
			t.Errorf("Check = %+v, want Released", d)
		}
		want := []time.Duration{0, time.Second, 3 * time.Second}
		if got := offsets(start, h.p.wakes("app")); !slices.Equal(got, want) {
			t.Errorf("Wake calls at %v, want %v", got, want)
		}
	})
}

func TestHoldTimeout(t *testing.T) {
	tests := []struct {
		browser  bool
		page     WaitingPage
		wantHTML bool
	}{
		{false, PageOnTimeout, false},
		{true, PageOnTimeout, true},
		{false, PageOff, false},
		{true, PageOff, false},
		{false, PageImmediate, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v,browser=%v", tt.page, tt.browser), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const hold = 10 * time.Second
				h := newHarness(t, Options{RetryAfter: 7 * time.Second},
					tgt("app", Policy{HoldTimeout: hold, WaitingPage: tt.page}, "app.test"))
				r := reqFor("app.test")
				r.Browser = tt.browser
				d := h.g.Check(t.Context(), r)
				want := Decision{Outcome: TimedOut, Target: "app", Held: hold, RetryAfter: 7 * time.Second, HTML: tt.wantHTML}
				if d != want {
					t.Fatalf("Check = %+v, want %+v", d, want)
				}
				if s := h.stats(t, "app"); s.Held != 0 || s.InFlight != 1 {
					t.Errorf("after the timeout: Stats = %+v", s)
				}
				h.g.Finish(d)
				time.Sleep(time.Minute) // the wake loop stops at its next back-off (15s)
				if got := len(h.p.wakes("app")); got != 4 {
					t.Errorf("%d Wake calls, want 4 (at 0, 1, 3 and 7s)", got)
				}
				if i := h.info(t, "app"); i.State != StateIdle || i.Held != 0 {
					t.Errorf("a minute after the timeout: TargetInfo = %+v", i)
				}
			})
		})
	}
}

func TestCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
		ctx, cancel := context.WithCancel(t.Context())
		ch := h.start(ctx, reqFor("app.test"))
		time.Sleep(2 * time.Second)
		cancel()
		d := <-ch
		want := Decision{Outcome: Canceled, Target: "app", Held: 2 * time.Second, RetryAfter: DefaultRetryAfter}
		if d != want {
			t.Fatalf("Check = %+v, want %+v", d, want)
		}
		if s := h.stats(t, "app"); s.Held != 0 || s.InFlight != 1 {
			t.Errorf("after cancel: Stats = %+v", s)
		}
		if i := h.info(t, "app"); i.Held != 0 {
			t.Errorf("after cancel: TargetInfo.Held = %d", i.Held)
		}
		h.g.Finish(d)
		if s := h.stats(t, "app"); s.Busy() {
			t.Errorf("after Finish: Stats = %+v", s)
		}
	})
}

// TestManyWaitersOneWake: a thousand requests held on one target share one wake loop and
// are all released by one readiness change.
func TestManyWaitersOneWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
		const n = DefaultMaxHeld
		chs := make([]<-chan Decision, n)
		for i := range chs {
			chs[i] = h.start(t.Context(), reqFor("app.test"))
		}
		synctest.Wait()
		if s := h.stats(t, "app"); s.Held != n || s.InFlight != n {
			t.Fatalf("Stats = %+v, want %d held", s, n)
		}
		if got := len(h.p.wakes("app")); got != 1 {
			t.Errorf("%d Wake calls for %d waiters, want 1", got, n)
		}
		time.Sleep(500 * time.Millisecond)
		h.p.setReady("app", true)
		for i, ch := range chs {
			d := <-ch
			if d.Outcome != Released || d.Held != 500*time.Millisecond {
				t.Fatalf("request %d: %+v", i, d)
			}
			h.g.Finish(d)
		}
		if s := h.stats(t, "app"); s.Busy() || s.RequestsTotal != n {
			t.Errorf("after all finished: Stats = %+v", s)
		}
		synctest.Wait()
		if got := len(h.p.wakes("app")); got != 1 {
			t.Errorf("%d Wake calls, want 1", got)
		}
	})
}
