package peer

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/wakegate/wakegate/internal/activity"
	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

// FuzzIngest feeds two reports from untrusted bytes into a View: whatever they hold, the
// View must not panic, and every merged count must stay non-negative, held at most in
// flight, and every rate finite and non-negative.
func FuzzIngest(f *testing.F) {
	seed := func(r *peerv1.Report) []byte {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	ok := rep("b", act("a", 10, 2, 1, time.Second), act("x", math.MaxUint64, math.MaxUint64, math.MaxUint64, 0))
	later := rep("b", act("a", 3, 0, 0, 0))
	later.Seq, later.Final = 2, true
	weird := &peerv1.Report{ReplicaId: "b", Sent: &timestamppb.Timestamp{Seconds: math.MinInt64, Nanos: -1},
		HeartbeatInterval: &durationpb.Duration{Seconds: math.MaxInt64},
		Targets:           []*peerv1.TargetActivity{{Target: "a", LastSeen: &timestamppb.Timestamp{Seconds: math.MaxInt64}}}}
	f.Add(seed(ok), seed(later))
	f.Add(seed(ok), seed(weird))
	f.Add(seed(weird), seed(ok))
	f.Add([]byte{}, []byte{0xff})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		v, err := NewView(ViewOptions{Tracker: activity.New(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		targets := map[string]bool{"a": true}
		now := time.Now()
		for i, b := range [][]byte{first, second} {
			var r peerv1.Report
			if proto.Unmarshal(b, &r) != nil {
				continue
			}
			for _, ta := range r.GetTargets() {
				targets[ta.GetTarget()] = true
			}
			err := v.ingest("peer:1", &r, now.Add(time.Duration(i)*time.Second))
			if err != nil && !strings.Contains(err.Error(), "report") {
				t.Errorf("ingest error %q does not name the report", err)
			}
		}
		for name := range targets {
			s, _ := v.Stats(name)
			if s.InFlight < 0 || s.Held < 0 || s.Held > s.InFlight {
				t.Errorf("Stats(%q) = %+v: negative, or more held than in flight", name, s)
			}
			for _, w := range []time.Duration{0, time.Second, time.Hour} {
				if r := v.Rate(name, w); r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
					t.Errorf("Rate(%q, %s) = %v", name, w, r)
				}
			}
		}
	})
}

func TestParseReport(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sent := timestamppb.New(now.Add(time.Hour)) // the peer's clock is an hour ahead
	tests := []struct {
		name    string
		rep     *peerv1.Report
		wantErr string
		want    parsedTarget // of target "a"
		wantHB  time.Duration
	}{
		{name: "missing", rep: nil, wantErr: "report is missing"},
		{name: "no replica id", rep: &peerv1.Report{}, wantErr: "report: replica_id is empty"},
		{name: "empty target", rep: &peerv1.Report{ReplicaId: "b", Targets: []*peerv1.TargetActivity{{Target: "a"}, {}}},
			wantErr: `report from "b": targets[1].target is empty`},
		{name: "duplicate target", rep: &peerv1.Report{ReplicaId: "b", Targets: []*peerv1.TargetActivity{{Target: "a"}, {Target: "a"}}},
			wantErr: `report from "b": targets[1].target "a" appears twice`},
		{name: "counts bounded, held at most in flight",
			rep:  &peerv1.Report{ReplicaId: "b", Targets: []*peerv1.TargetActivity{{Target: "a", RequestsTotal: 9, InFlight: 1, Held: math.MaxUint64}}},
			want: parsedTarget{raw: 9, inFlight: maxCount, held: maxCount}, wantHB: DefaultHeartbeat},
		{name: "last_seen moved to our clock through sent",
			rep: &peerv1.Report{ReplicaId: "b", Sent: sent, HeartbeatInterval: durationpb.New(2 * time.Second),
				Targets: []*peerv1.TargetActivity{{Target: "a", LastSeen: timestamppb.New(now.Add(time.Hour - 5*time.Second))}}},
			want:   parsedTarget{rawLastSeen: now.Add(time.Hour - 5*time.Second), lastSeen: now.Add(-5 * time.Second)},
			wantHB: 2 * time.Second},
		{name: "last_seen after sent is now",
			rep: &peerv1.Report{ReplicaId: "b", Sent: sent, HeartbeatInterval: durationpb.New(-time.Second),
				Targets: []*peerv1.TargetActivity{{Target: "a", LastSeen: timestamppb.New(now.Add(2 * time.Hour))}}},
			want: parsedTarget{rawLastSeen: now.Add(2 * time.Hour), lastSeen: now}, wantHB: DefaultHeartbeat},
		{name: "no sent: last_seen taken as is, never after now",
			rep: &peerv1.Report{ReplicaId: "b", HeartbeatInterval: durationpb.New(time.Hour),
				Targets: []*peerv1.TargetActivity{{Target: "a", LastSeen: timestamppb.New(now.Add(time.Minute))}}},
			want: parsedTarget{rawLastSeen: now.Add(time.Minute), lastSeen: now}, wantHB: maxHeartbeat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseReport(tc.rep, now)
			if got := errString(err); got != tc.wantErr {
				t.Fatalf("error = %q, want %q", got, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := p.targets["a"]; got != tc.want {
				t.Errorf("target a = %+v, want %+v", got, tc.want)
			}
			if p.heartbeat != tc.wantHB {
				t.Errorf("heartbeat = %s, want %s", p.heartbeat, tc.wantHB)
			}
		})
	}
}
