package peer

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/wakegate/wakegate/internal/activity"
	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

func TestViewStatsSums(t *testing.T) {
	tests := []struct {
		name    string
		local   func(tr *activity.Tracker)
		reports func() []*peerv1.Report // called in the test's bubble, for its clock
		target  string
		want    activity.Stats // LastSeen: see lastSeenAgo
		// lastSeenAgo is how long before the test's start want.LastSeen is; -1: zero.
		lastSeenAgo time.Duration
		wantOK      bool
	}{
		{name: "nothing anywhere", target: "a", lastSeenAgo: -1},
		{
			name:   "local only",
			local:  func(tr *activity.Tracker) { tr.Begin("a"); tr.HoldStart("a") },
			target: "a", wantOK: true,
			want: activity.Stats{RequestsTotal: 1, InFlight: 1, Held: 1},
		},
		{
			name:    "peer only",
			reports: func() []*peerv1.Report { return []*peerv1.Report{rep("b", act("a", 7, 2, 1, 3*time.Second))} },
			target:  "a", wantOK: true, lastSeenAgo: 3 * time.Second,
			want: activity.Stats{RequestsTotal: 7, InFlight: 2, Held: 1},
		},
		{
			name:  "local and two peers: counts added, latest LastSeen",
			local: func(tr *activity.Tracker) { tr.Begin("a"); tr.Begin("a"); tr.End("a") },
			reports: func() []*peerv1.Report {
				return []*peerv1.Report{
					rep("b", act("a", 10, 3, 2, time.Minute), act("other", 5, 5, 0, 0)),
					rep("c", act("a", 100, 0, 0, time.Hour)),
				}
			},
			target: "a", wantOK: true,
			want: activity.Stats{RequestsTotal: 112, InFlight: 4, Held: 2},
		},
		{
			name:    "peers' other targets do not count",
			reports: func() []*peerv1.Report { return []*peerv1.Report{rep("b", act("other", 5, 5, 5, 0))} },
			target:  "a", lastSeenAgo: -1,
		},
		{
			name:    "held above in flight is raised to in flight",
			reports: func() []*peerv1.Report { return []*peerv1.Report{rep("b", act("a", 1, 0, 4, -1))} },
			target:  "a", wantOK: true, lastSeenAgo: -1,
			want: activity.Stats{RequestsTotal: 1, InFlight: 4, Held: 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				if tc.lastSeenAgo >= 0 {
					tc.want.LastSeen = time.Now().Add(-tc.lastSeenAgo)
				}
				v, tr, _ := newView(t, 0)
				if tc.local != nil {
					tc.local(tr)
				}
				if tc.reports != nil {
					for _, r := range tc.reports() {
						mustIngest(t, v, r)
					}
				}
				got, ok := v.Stats(tc.target)
				if ok != tc.wantOK {
					t.Errorf("ok = %v, want %v", ok, tc.wantOK)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Stats (-want +got):\n%s", diff)
				}
				if wst, _ := v.Watch(tc.target); wst != got {
					t.Errorf("Watch's Stats = %+v, Stats = %+v", wst, got)
				}
			})
		})
	}
}

func TestViewLastSeenOnOwnClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, _, _ := newView(t, 0)
		// The peer's clock runs an hour ahead; its last_seen is 2s before its sent.
		peerNow := time.Now().Add(time.Hour)
		r := rep("b", act("a", 1, 0, 0, -1))
		r.Sent = timestamppb.New(peerNow)
		r.Targets[0].LastSeen = timestamppb.New(peerNow.Add(-2 * time.Second))
		mustIngest(t, v, r)
		got, _ := v.Stats("a")
		if want := time.Now().Add(-2 * time.Second); !got.LastSeen.Equal(want) {
			t.Errorf("LastSeen = %v, want %v (2s ago on our clock)", got.LastSeen, want)
		}
		// A heartbeat later, with the same last_seen, does not move it.
		time.Sleep(time.Second)
		r.Seq, r.Sent = 2, timestamppb.New(peerNow.Add(time.Second+time.Millisecond))
		mustIngest(t, v, r)
		if again, _ := v.Stats("a"); !again.LastSeen.Equal(got.LastSeen) {
			t.Errorf("LastSeen moved from %v to %v on a report with the same last_seen", got.LastSeen, again.LastSeen)
		}
	})
}
