package gate

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// TestReadyFlapWhileRequestArrives builds the interleaving stopWaking guards against: the
// wake loop sees the target ready, the target goes not ready again, and a new request sees
// "not ready" and finds the loop still marked running — all before the loop marks itself
// stopped. The loop must keep going for that request.
func TestReadyFlapWhileRequestArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("app", Policy{HoldTimeout: time.Minute, WaitingPage: PageImmediate}, "app.test"))
		browser := reqFor("app.test")
		browser.Browser = true
		// The waiting page starts a wake loop with no request held, so only the loop calls
		// Ready from here on, until the test sends the API request.
		if d := h.g.Check(t.Context(), browser); d.Outcome != WaitPage {
			t.Fatalf("Check = %+v", d)
		}
		synctest.Wait() // the loop called Wake and waits for a change

		var api <-chan Decision
		hookDone := make(chan struct{})
		var once sync.Once
		h.p.setOnReady(func(_ string, ready bool) {
			if !ready {
				return
			}
			once.Do(func() {
				// On the loop's goroutine, after it saw "ready", before stopWaking.
				h.p.setReady("app", false)
				api = h.start(t.Context(), reqFor("app.test"))
				synctest.Wait() // the request saw "not ready", found the loop, and waits
				close(hookDone)
			})
		})
		start := time.Now()
		h.p.setReady("app", true)
		<-hookDone
		h.p.setOnReady(nil)
		synctest.Wait()
		if !pending(api) {
			t.Fatalf("request was not held: %+v", <-api)
		}
		if i := h.info(t, "app"); i.State != StateWaking {
			t.Fatalf("State = %s: the held request has no wake loop", i.State)
		}
		time.Sleep(1500 * time.Millisecond) // the loop's back-off ends at 1s: it wakes again
		if got := len(h.p.wakes("app")); got != 2 {
			t.Errorf("%d Wake calls, want 2 (the loop kept going)", got)
		}
		h.p.setReady("app", true)
		if d := <-api; d.Outcome != Released || d.Held != time.Since(start) {
			t.Errorf("held request: %+v", d)
		}
	})
}

// TestWakeAfterLoopEnded: once the loop stopped on "ready", a target that goes not ready
// again gets a new loop from the next request.
func TestWakeAfterLoopEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
		first := h.start(t.Context(), reqFor("app.test"))
		synctest.Wait()
		h.p.setReady("app", true)
		if d := <-first; d.Outcome != Released {
			t.Fatalf("first: %+v", d)
		}
		synctest.Wait()
		if i := h.info(t, "app"); i.State != StateReady {
			t.Fatalf("State = %s", i.State)
		}
		h.p.setReady("app", false)
		if i := h.info(t, "app"); i.State != StateIdle {
			t.Errorf("not ready, no loop: State = %s, want idle", i.State)
		}
		second := h.start(t.Context(), reqFor("app.test"))
		synctest.Wait()
		if got := len(h.p.wakes("app")); got != 2 {
			t.Errorf("%d Wake calls, want 2", got)
		}
		h.p.setReady("app", true)
		if d := <-second; d.Outcome != Released {
			t.Errorf("second: %+v", d)
		}
	})
}

// TestCloseStopsWakeLoops: Close returns only once every wake loop has ended, even one in
// the middle of a long back-off.
func TestCloseStopsWakeLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{WakeBackoff: time.Hour, MaxWakeBackoff: time.Hour}, tgt("a", pol(), "a.test"), tgt("b", pol(), "b.test"))
		ctx, cancel := context.WithCancel(t.Context())
		a, b := h.start(ctx, reqFor("a.test")), h.start(ctx, reqFor("b.test"))
		synctest.Wait()
		cancel()
		for _, ch := range []<-chan Decision{a, b} {
			if d := <-ch; d.Outcome != Canceled {
				t.Errorf("%+v, want Canceled", d)
			}
		}
		h.g.Close() // without it, the loops would sit in their hour-long back-off
		for _, name := range []string{"a", "b"} {
			if i := h.info(t, name); i.State != StateIdle {
				t.Errorf("%s after Close: State = %s", name, i.State)
			}
		}
		h.g.Close() // idempotent
	})
}

// TestCloseNoLeak runs on real time: after Close no goroutine of the gate is left.
func TestCloseNoLeak(t *testing.T) {
	h := newHarness(t, Options{}, tgt("app", pol(), "app.test"))
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan struct{})
	r := reqFor("app.test")
	r.OnHold = func(time.Duration) { close(held) }
	ch := h.start(ctx, r)
	<-held
	cancel()
	if d := <-ch; d.Outcome != Canceled {
		t.Errorf("%+v, want Canceled", d)
	}
	h.g.Close()
	goleak.VerifyNone(t)
}
