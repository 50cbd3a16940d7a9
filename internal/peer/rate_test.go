package peer

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

// step is one report from peer "b" about target "a", sent wait after the previous one.
type step struct {
	wait    time.Duration
	total   uint64
	absent  bool // the report does not list "a"
	restart bool // the report carries a new started: the peer restarted
}

// steady returns n steps a second apart, the total growing by per each.
func steady(from uint64, n int, per uint64) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = step{wait: time.Second, total: from + uint64(i+1)*per}
	}
	return out
}

func TestViewRateFromSamples(t *testing.T) {
	tests := []struct {
		name    string
		steps   []step
		silence time.Duration // after the last report, before asking
		want    map[time.Duration]float64
	}{
		{
			name:  "steady 10 per second",
			steps: append([]step{{total: 0}}, steady(0, 20, 10)...),
			want:  map[time.Duration]float64{10 * time.Second: 10, 5 * time.Second: 10, time.Minute: 200.0 / 60},
		},
		{
			name:  "what came before the first report is not a rate",
			steps: []step{{total: 1000}, {wait: time.Second, total: 1010}},
			want:  map[time.Duration]float64{10 * time.Second: 1, time.Second: 10},
		},
		{
			name:  "counter reset: a smaller total starts again from zero",
			steps: []step{{total: 100}, {wait: time.Second, total: 110}, {wait: time.Second, total: 120}, {wait: time.Second, total: 5}, {wait: time.Second, total: 15}},
			want:  map[time.Duration]float64{10 * time.Second: 3.5, time.Second: 10, 2 * time.Second: 7.5},
		},
		{
			name:  "restart announced by started, even with a larger total",
			steps: []step{{total: 100}, {wait: time.Second, total: 110}, {wait: time.Second, total: 50, restart: true}},
			want:  map[time.Duration]float64{10 * time.Second: 6},
		},
		{
			name:  "a target new on a known peer counts from zero",
			steps: []step{{absent: true}, {wait: time.Second, total: 30}},
			want:  map[time.Duration]float64{10 * time.Second: 3},
		},
		{
			name:  "a target that left the report loses its history",
			steps: append(steady(0, 5, 10), step{wait: time.Second, absent: true}),
			want:  map[time.Duration]float64{10 * time.Second: 0},
		},
		{
			name:  "a flat total slides out of the window",
			steps: append([]step{{total: 0}, {wait: time.Second, total: 100}}, steady(100, 15, 0)...),
			want:  map[time.Duration]float64{10 * time.Second: 0, 20 * time.Second: 5},
		},
		{
			name:    "a silent peer's rate stays as it was",
			steps:   append([]step{{total: 0}}, steady(0, 5, 20)...),
			silence: 8 * time.Second,
			want:    map[time.Duration]float64{10 * time.Second: 10, 2 * time.Second: 20},
		},
		{
			name:  "windows are whole seconds within the retention",
			steps: append([]step{{total: 0}}, steady(0, 3, 60)...),
			want:  map[time.Duration]float64{1500 * time.Millisecond: 60, 0: 60, 24 * time.Hour: 180.0 / 600},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, _, _ := newView(t, 10*time.Second)
				feed(t, v, tc.steps)
				time.Sleep(tc.silence)
				for window, want := range tc.want {
					if got := v.Rate("a", window); math.Abs(got-want) > 1e-9 {
						t.Errorf("Rate(a, %s) = %v, want %v", window, got, want)
					}
				}
			})
		})
	}
}

// feed sends steps to v as reports from "b", sleeping (in the bubble) between them.
func feed(t *testing.T, v *View, steps []step) {
	t.Helper()
	started := time.Now().Add(-time.Hour)
	for i, s := range steps {
		time.Sleep(s.wait)
		if s.restart {
			started = time.Now()
		}
		var targets []*peerv1.TargetActivity
		if !s.absent {
			targets = append(targets, act("a", s.total, 0, 0, 0))
		}
		r := rep("b", targets...)
		r.Seq, r.Started = uint64(i+1), timestamppb.New(started)
		mustIngest(t, v, r)
	}
}

func TestViewRateAddsLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, tr, _ := newView(t, 0)
		feed(t, v, append([]step{{total: 0}}, steady(0, 2, 5)...))
		for range 4 {
			tr.Begin("a")
			tr.End("a")
		}
		if got, want := v.Rate("a", 2*time.Second), 5.0+2; got != want {
			t.Errorf("Rate = %v, want %v (peer 5/s + local 4 in 2s)", got, want)
		}
	})
}
