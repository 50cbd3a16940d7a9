package activity

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestCounters(t *testing.T) {
	type step struct {
		op    func(tr *Tracker)
		sleep time.Duration // fake time to pass before op
		want  Stats         // LastSeen given as an offset from the start, in seconds
		seen  int
	}
	begin := func(tr *Tracker) { tr.Begin("a") }
	end := func(tr *Tracker) { tr.End("a") }
	holdStart := func(tr *Tracker) { tr.HoldStart("a") }
	holdEnd := func(tr *Tracker) { tr.HoldEnd("a") }
	steps := []step{
		{op: begin, want: Stats{RequestsTotal: 1, InFlight: 1}, seen: 0},
		{op: holdStart, sleep: time.Second, want: Stats{RequestsTotal: 1, InFlight: 1, Held: 1}, seen: 0},
		{op: begin, sleep: time.Second, want: Stats{RequestsTotal: 2, InFlight: 2, Held: 1}, seen: 2},
		{op: holdEnd, sleep: time.Second, want: Stats{RequestsTotal: 2, InFlight: 2}, seen: 2},
		{op: end, sleep: 5 * time.Second, want: Stats{RequestsTotal: 2, InFlight: 1}, seen: 8},
		{op: end, sleep: time.Second, want: Stats{RequestsTotal: 2}, seen: 9},
		{op: begin, sleep: time.Hour, want: Stats{RequestsTotal: 3, InFlight: 1}, seen: 3609},
	}
	synctest.Test(t, func(t *testing.T) {
		tr := New(0)
		if s, ok := tr.Stats("a"); ok {
			t.Fatalf("Stats of an unseen target = %+v, true", s)
		}
		start := time.Now()
		for i, st := range steps {
			time.Sleep(st.sleep)
			st.op(tr)
			got, ok := tr.Stats("a")
			want := st.want
			want.LastSeen = start.Add(time.Duration(st.seen) * time.Second)
			if !ok || got != want {
				t.Fatalf("step %d: Stats = %+v, %v; want %+v", i, got, ok, want)
			}
			if got.Busy() != (want.InFlight > 0 || want.Held > 0) {
				t.Errorf("step %d: Busy() = %v", i, got.Busy())
			}
		}
		if got := tr.Targets(); len(got) != 1 || got[0] != "a" {
			t.Errorf("Targets() = %q", got)
		}
	})
}

func TestBusy(t *testing.T) {
	tests := []struct {
		s    Stats
		want bool
	}{
		{Stats{}, false},
		{Stats{RequestsTotal: 5}, false},
		{Stats{InFlight: 1}, true},
		{Stats{Held: 1}, true},
	}
	for _, tt := range tests {
		if got := tt.s.Busy(); got != tt.want {
			t.Errorf("%+v.Busy() = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestTargetsSorted(t *testing.T) {
	tr := New(0)
	for _, n := range []string{"c", "a", "b"} {
		tr.Begin(n)
	}
	tr.Watch("d")
	got := tr.Targets()
	want := []string{"a", "b", "c", "d"}
	if len(got) != len(want) {
		t.Fatalf("Targets() = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Targets() = %q, want %q", got, want)
		}
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, DefaultRetention},
		{-time.Second, DefaultRetention},
		{90 * time.Second, 90 * time.Second},
		{1500 * time.Millisecond, time.Second},
		{500 * time.Millisecond, time.Second}, // less than one bucket: still one bucket
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			tr := New(tt.in)
			if got := tr.Retention(); got != tt.want {
				t.Errorf("New(%v).Retention() = %v, want %v", tt.in, got, tt.want)
			}
			tr.Begin("a") // must not panic, whatever the retention
			tr.End("a")
			want := 1 / min(time.Minute, tt.want).Seconds()
			if got := tr.Rate("a", time.Minute); got != want {
				t.Errorf("New(%v): Rate = %v, want %v", tt.in, got, want)
			}
		})
	}
}

func TestRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := New(10 * time.Second)
		burst := func(n int) {
			for range n {
				tr.Begin("a")
				tr.End("a")
			}
		}
		check := func(when string, window time.Duration, want float64) {
			t.Helper()
			if got := tr.Rate("a", window); got != want {
				t.Errorf("%s: Rate(%v) = %v, want %v", when, window, got, want)
			}
		}
		check("before any request", time.Second, 0)
		burst(5) // t=0
		time.Sleep(time.Second)
		burst(3) // t=1
		time.Sleep(1500 * time.Millisecond)
		burst(2) // t=2.5, second 2
		check("t=2.5", time.Second, 2)
		check("t=2.5", 0, 2)                     // shorter than a second: one second
		check("t=2.5", 1999*time.Millisecond, 2) // whole seconds only
		check("t=2.5", 2*time.Second, 2.5)       // (3+2)/2
		check("t=2.5", 3*time.Second, 10.0/3)    // all of it
		check("t=2.5", 5*time.Second, 2)         // longer than the history: 10/5
		check("t=2.5", time.Hour, 1)             // clamped to the retention: 10/10
		check("t=2.5", -time.Second, 2)          // negative: one second
		time.Sleep(7500 * time.Millisecond)      // t=10: second 0 is out of the window
		check("t=10", 10*time.Second, 0.5)
		time.Sleep(time.Second) // t=11: second 1 is out too
		check("t=11", 10*time.Second, 0.2)
		check("t=11", 8*time.Second, 0)
		time.Sleep(20 * time.Second) // t=31: every bucket is stale; slot 1 is reused below
		check("t=31", time.Hour, 0)
		burst(4)
		check("t=31 after reuse", time.Second, 4)
		check("t=31 after reuse", time.Hour, 0.4)
	})
	if got := New(0).Rate("never", time.Minute); got != 0 {
		t.Errorf("Rate of an unknown target = %v", got)
	}
}
