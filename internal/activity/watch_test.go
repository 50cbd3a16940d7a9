package activity

import (
	"sync"
	"testing"
	"testing/synctest"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestWatchEdges(t *testing.T) {
	type op struct {
		name   string
		do     func(tr *Tracker)
		closes bool // whether the channel from a Watch just before do is closed by it
	}
	begin := func(tr *Tracker) { tr.Begin("a") }
	end := func(tr *Tracker) { tr.End("a") }
	holdStart := func(tr *Tracker) { tr.HoldStart("a") }
	holdEnd := func(tr *Tracker) { tr.HoldEnd("a") }
	ops := []op{
		{"first Begin: busy edge", begin, true},
		{"second concurrent Begin", begin, false},
		{"HoldStart 0→1", holdStart, true},
		{"HoldStart 1→2", holdStart, false},
		{"HoldEnd 2→1", holdEnd, false},
		{"HoldEnd 1→0", holdEnd, true},
		{"End 2→1", end, false},
		{"End 1→0: idle edge", end, true},
		{"Begin again: busy edge", begin, true},
		{"HoldStart on the only request", holdStart, true},
		{"HoldEnd on the only request", holdEnd, true},
		{"End", end, true},
	}
	synctest.Test(t, func(t *testing.T) {
		tr := New(0)
		for _, o := range ops {
			_, ch := tr.Watch("a")
			if isClosed(ch) {
				t.Fatalf("%s: fresh Watch channel is already closed", o.name)
			}
			o.do(tr)
			if got := isClosed(ch); got != o.closes {
				t.Errorf("%s: channel closed = %v, want %v", o.name, got, o.closes)
			}
		}
	})
}

func TestWatchReturnsStats(t *testing.T) {
	tr := New(0)
	s, ch := tr.Watch("a")
	if s != (Stats{}) {
		t.Errorf("Watch before any request: Stats = %+v", s)
	}
	if got := tr.Targets(); len(got) != 1 {
		t.Errorf("Watch did not create the target: Targets() = %q", got)
	}
	tr.Begin("a")
	<-ch
	s, _ = tr.Watch("a")
	if s.InFlight != 1 || s.RequestsTotal != 1 {
		t.Errorf("Watch after Begin: Stats = %+v", s)
	}
}

func TestWatchManyWatchers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := New(0)
		const n = 10
		var woke sync.WaitGroup
		for range n {
			woke.Add(1)
			_, ch := tr.Watch("a")
			go func() {
				defer woke.Done()
				<-ch
			}()
		}
		synctest.Wait() // every watcher is blocked on its channel
		tr.Begin("a")
		woke.Wait()
	})
}

func TestForget(t *testing.T) {
	tr := New(0)
	_, ch := tr.Watch("a")
	tr.Forget("a")
	if !isClosed(ch) {
		t.Error("Forget did not close the Watch channel")
	}
	if _, ok := tr.Stats("a"); ok {
		t.Error("Stats still found the forgotten target")
	}
	if got := tr.Targets(); len(got) != 0 {
		t.Errorf("Targets() = %q after Forget", got)
	}
	tr.Forget("never-seen") // no-op
}

// TestForgetWhileBusy: the counters of a target forgotten with requests in flight stay
// until the last one ends, so its End neither goes negative nor resurrects the target.
func TestForgetWhileBusy(t *testing.T) {
	tr := New(0)
	tr.Begin("a")
	tr.HoldStart("a")
	_, ch := tr.Watch("a")
	tr.Forget("a")
	if !isClosed(ch) {
		t.Error("Forget did not close the Watch channel")
	}
	if s, ok := tr.Stats("a"); !ok || s.InFlight != 1 || s.Held != 1 {
		t.Fatalf("Stats after Forget while busy = %+v, %v", s, ok)
	}
	_, ch = tr.Watch("a") // a watcher that comes back before the request ends
	tr.HoldEnd("a")
	tr.End("a")
	if !isClosed(ch) {
		t.Error("dropping the forgotten target did not close the Watch channel")
	}
	if s, ok := tr.Stats("a"); ok {
		t.Errorf("forgotten target still has counters after its last End: %+v", s)
	}
	tr.Begin("a") // the target comes back
	if s, ok := tr.Stats("a"); !ok || s.InFlight != 1 || s.RequestsTotal != 1 {
		t.Errorf("Stats of the target begun again = %+v, %v", s, ok)
	}
}

// TestForgetThenBeginAgain: a target re-added (Begin) before its old request ends keeps
// one set of counters that ends at zero.
func TestForgetThenBeginAgain(t *testing.T) {
	tr := New(0)
	tr.Begin("a")
	tr.Forget("a")
	tr.Begin("a")
	tr.End("a") // the old request
	if s, ok := tr.Stats("a"); !ok || s.InFlight != 1 || s.RequestsTotal != 2 {
		t.Fatalf("Stats = %+v, %v; want the new request still in flight", s, ok)
	}
	tr.End("a")
	if s, ok := tr.Stats("a"); !ok || s.Busy() {
		t.Errorf("Stats = %+v, %v; want idle counters kept", s, ok)
	}
}

// TestConcurrent runs Begin/Hold/End from many goroutines next to readers, a watcher and a
// Forget loop (run with -race). Target "a" keeps one request in flight throughout, so
// Forget must keep its counters; "c" is idle at times, so Forget drops it while requests
// begin. Every count must balance.
func TestConcurrent(t *testing.T) {
	tr := New(0)
	tr.Begin("a") // the anchor request
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			_, ch := tr.Watch("a")
			select {
			case <-ch:
			case <-stop:
				return
			}
		}
	})
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				tr.Forget("a")
				tr.Forget("c")
				tr.Stats("c")
				tr.Rate("c", 0)
				tr.Targets()
			}
		}
	})
	var workers sync.WaitGroup
	for range 8 {
		workers.Go(func() {
			for i := range 2000 {
				for _, name := range []string{"a", "b", "c"} {
					tr.Begin(name)
					if i%3 == 0 {
						tr.HoldStart(name)
						tr.HoldEnd(name)
					}
					tr.End(name)
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	readers.Wait()
	if s, ok := tr.Stats("a"); !ok || s.InFlight != 1 || s.Held != 0 {
		t.Errorf("a, with its anchor request in flight: Stats = %+v, %v", s, ok)
	}
	tr.Forget("a") // the loop's last Forget may have come before a Begin
	tr.End("a")
	if s, ok := tr.Stats("a"); ok {
		t.Errorf("a, forgotten, after its last request: Stats = %+v", s)
	}
	if s, ok := tr.Stats("c"); ok && s.Busy() {
		t.Errorf("c after all requests ended: Stats = %+v", s)
	}
	if s, _ := tr.Stats("b"); s != (Stats{RequestsTotal: 8 * 2000, LastSeen: s.LastSeen}) {
		t.Errorf("b, never forgotten: Stats = %+v", s)
	}
	tr.Begin("c")
	if s, _ := tr.Stats("c"); s.InFlight != 1 || s.Held != 0 {
		t.Errorf("c, a new request after the storm: Stats = %+v", s)
	}
}
