package peer

import (
	"slices"
	"testing"
	"testing/synctest"
)

func TestViewWatchLocalEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, tr, _ := newView(t, 0)
		v.SetTargets([]string{"a"})
		_, ch := v.Watch("a")
		local := v.LocalChanged()
		_, other := v.Watch("b") // not configured: bridged on demand

		tr.Begin("a")
		synctest.Wait()
		if !isClosed(ch) || !isClosed(local) {
			t.Fatalf("after a local busy edge: Watch closed = %v, LocalChanged closed = %v; want both", isClosed(ch), isClosed(local))
		}
		if isClosed(other) {
			t.Error("another target's channel closed")
		}

		s, ch := v.Watch("a")
		if s.InFlight != 1 {
			t.Errorf("Stats after Begin = %+v, want 1 in flight", s)
		}
		tr.Begin("a") // no edge: already busy
		synctest.Wait()
		if isClosed(ch) {
			t.Error("channel closed without an edge")
		}
		tr.HoldStart("a")
		synctest.Wait()
		if !isClosed(ch) {
			t.Error("channel not closed at the held edge")
		}

		tr.Begin("b")
		synctest.Wait()
		if !isClosed(other) {
			t.Error("on-demand bridge: channel not closed at b's busy edge")
		}
	})
}

func TestViewSetTargetsStopsBridges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, tr, _ := newView(t, 0)
		v.SetTargets([]string{"a", "b"})
		_, ch := v.Watch("a")
		v.SetTargets([]string{"b"})
		if !isClosed(ch) {
			t.Error("a's watchers not woken when a left the configuration")
		}
		tr.Forget("a") // what the app does after SetTargets
		synctest.Wait()
		if slices.Contains(tr.Targets(), "a") {
			t.Errorf("tracker targets %v: a stopped bridge revived a forgotten target", tr.Targets())
		}
		local := v.LocalChanged()
		tr.Begin("a") // counted again, but no longer configured: no bridge
		synctest.Wait()
		if isClosed(local) {
			t.Error("LocalChanged closed for a target no longer configured")
		}
		tr.Begin("b")
		synctest.Wait()
		if !isClosed(local) {
			t.Error("LocalChanged not closed for a configured target")
		}
	})
}

func TestViewAfterRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, tr, _ := newView(t, 0)
		v.SetTargets([]string{"a"})
		mustIngest(t, v, rep("b", act("a", 5, 1, 1, 0)))
		_, ch := v.Watch("a")
		// The Cleanup of newView stops Run; simulate it here to look at the aftermath.
		v.close()
		synctest.Wait()
		if !isClosed(ch) {
			t.Error("watchers not woken when the View stopped")
		}
		if s, _ := v.Stats("a"); s.Held != 0 {
			t.Errorf("Stats after stop = %+v, want local counts only", s)
		}
		_, ch = v.Watch("a")
		tr.Begin("a")
		if !isClosed(ch) {
			t.Error("after stop, Watch is not the Tracker's")
		}
	})
}
