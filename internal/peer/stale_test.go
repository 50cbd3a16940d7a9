package peer

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/wakegate/wakegate/internal/activity"
	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

func TestViewStalenessKeepsThenDrops(t *testing.T) {
	tests := []struct {
		name      string
		staleness time.Duration
		heartbeat time.Duration // announced by the peer
		keptFor   time.Duration // the counts must still be there this long after the report
	}{
		{name: "the staleness bound", staleness: 5 * time.Second, heartbeat: time.Second, keptFor: 5 * time.Second},
		{name: "at least three heartbeats", staleness: 5 * time.Second, heartbeat: 3 * time.Second, keptFor: 9 * time.Second},
		{name: "an absurd heartbeat is bounded", staleness: 5 * time.Second, heartbeat: 24 * time.Hour, keptFor: 3 * maxHeartbeat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, _, m := newView(t, tc.staleness)
				r := rep("b", act("a", 10, 3, 1, 0))
				r.HeartbeatInterval = durationpb.New(tc.heartbeat)
				mustIngest(t, v, r)
				// Rate history so the frozen rate can be checked.
				time.Sleep(time.Second)
				r.Seq, r.Targets[0].RequestsTotal = 2, 20
				mustIngest(t, v, r)
				rate := v.Rate("a", 10*time.Second)
				_, ch := v.Watch("a")

				time.Sleep(tc.keptFor - time.Millisecond)
				synctest.Wait()
				if s, _ := v.Stats("a"); s.InFlight != 3 || s.Held != 1 {
					t.Fatalf("after %s of silence: Stats = %+v, want the last counts kept", tc.keptFor, s)
				}
				if got := v.Rate("a", 10*time.Second); got != rate || rate == 0 {
					t.Errorf("frozen rate = %v, want %v (and not 0)", got, rate)
				}
				if isClosed(ch) {
					t.Error("Watch channel closed while the peer is kept")
				}
				if got := testutil.ToFloat64(m.staleness.WithLabelValues("b")); got < 1 {
					t.Errorf("staleness gauge = %v, want the seconds since the report", got)
				}

				time.Sleep(v.sweepEvery() + time.Millisecond)
				synctest.Wait()
				if s, _ := v.Stats("a"); s != (activity.Stats{}) {
					t.Errorf("after the staleness bound: Stats = %+v, want the peer dropped", s)
				}
				if !isClosed(ch) {
					t.Error("Watch channel not closed when the peer was dropped")
				}
				if got := testutil.ToFloat64(m.dropped.WithLabelValues(ReasonStale)); got != 1 {
					t.Errorf("dropped{stale} = %v, want 1", got)
				}
				if got := testutil.ToFloat64(m.live); got != 0 {
					t.Errorf("live = %v, want 0", got)
				}
				if got := testutil.CollectAndCount(m.staleness); got != 0 {
					t.Errorf("%d staleness series left, want 0", got)
				}
			})
		})
	}
}

func TestViewGoodbye(t *testing.T) {
	tests := []struct {
		name     string
		held     uint64
		wantKept bool
	}{
		{name: "nothing held: dropped at once", held: 0},
		{name: "still holding: kept until stale", held: 1, wantKept: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, _, m := newView(t, 0)
				mustIngest(t, v, rep("b", act("a", 10, 2, 1, 0)))
				_, ch := v.Watch("a")
				bye := rep("b", act("a", 10, 2, tc.held, 0))
				bye.Seq, bye.Final = 2, true
				mustIngest(t, v, bye)

				// Watch made an empty local entry: the peer's counts are what is kept or not.
				s, _ := v.Stats("a")
				if kept := s.RequestsTotal == 10; kept != tc.wantKept {
					t.Errorf("after goodbye: counts kept = %v, want %v", kept, tc.wantKept)
				}
				if got := isClosed(ch); got != !tc.wantKept {
					t.Errorf("Watch channel closed = %v, want %v", got, !tc.wantKept)
				}
				want := 1.0
				if tc.wantKept {
					want = 0
				}
				if got := testutil.ToFloat64(m.dropped.WithLabelValues(ReasonGoodbye)); got != want {
					t.Errorf("dropped{goodbye} = %v, want %v", got, want)
				}
				if ps := v.Peers(); tc.wantKept && (len(ps) != 1 || !ps[0].Final) {
					t.Errorf("Peers = %+v, want b marked final", ps)
				}

				// A goodbye from a peer no longer in the view does not bring it back.
				mustIngest(t, v, bye)
				if s, _ := v.Stats("a"); (s.RequestsTotal == 10) != tc.wantKept {
					t.Errorf("after a second goodbye: Stats = %+v, want counts kept = %v", s, tc.wantKept)
				}
			})
		})
	}
}

func TestViewWatchRemoteEdges(t *testing.T) {
	tests := []struct {
		name       string
		before     *peerv1.TargetActivity // nil: the peer did not list the target
		after      *peerv1.TargetActivity
		wantClosed bool
	}{
		{name: "held on elsewhere", before: act("a", 1, 1, 0, 0), after: act("a", 1, 1, 1, 0), wantClosed: true},
		{name: "first request elsewhere", before: nil, after: act("a", 1, 1, 1, 0), wantClosed: true},
		{name: "held off", before: act("a", 1, 1, 1, 0), after: act("a", 1, 1, 0, 0), wantClosed: true},
		{name: "idle elsewhere", before: act("a", 1, 1, 0, 0), after: act("a", 1, 0, 0, 0), wantClosed: true},
		{name: "a request began and ended between reports", before: act("a", 1, 0, 0, 0), after: act("a", 2, 0, 0, 0), wantClosed: true},
		{name: "target forgotten while busy", before: act("a", 1, 1, 0, 0), after: nil, wantClosed: true},
		{name: "heartbeat, nothing new", before: act("a", 1, 1, 0, 0), after: act("a", 1, 1, 0, 0)},
		{name: "more requests while busy", before: act("a", 1, 1, 0, 0), after: act("a", 5, 3, 0, 0)},
		{name: "more held while held", before: act("a", 2, 2, 1, 0), after: act("a", 2, 2, 2, 0)},
		{name: "another target moved", before: nil, after: act("b", 1, 1, 1, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, _, _ := newView(t, 0)
				first := rep("p", act("z", 1, 0, 0, 0))
				if tc.before != nil {
					first.Targets = append(first.Targets, tc.before)
				}
				mustIngest(t, v, first)
				_, ch := v.Watch("a")
				second := rep("p", act("z", 1, 0, 0, 0))
				second.Seq = 2
				if tc.after != nil {
					second.Targets = append(second.Targets, tc.after)
				}
				mustIngest(t, v, second)
				if got := isClosed(ch); got != tc.wantClosed {
					t.Errorf("Watch channel closed = %v, want %v", got, tc.wantClosed)
				}
			})
		})
	}
}
