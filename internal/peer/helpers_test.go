package peer

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/wakegate/wakegate/internal/activity"
	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
	"github.com/wakegate/wakegate/scaler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The View is what the KEDA scaler reads.
var _ scaler.Counts = (*View)(nil)

// newView returns a View over a fresh Tracker, with metrics on a private registry, and
// runs it until the test ends.
func newView(t *testing.T, staleness time.Duration) (*View, *activity.Tracker, *Metrics) {
	t.Helper()
	tr := activity.New(0)
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewView(ViewOptions{Tracker: tr, Staleness: staleness, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("View.Run: %v", err)
		}
	})
	return v, tr, m
}

// rep builds a report from id, sent now, announcing a 1s heartbeat.
func rep(id string, targets ...*peerv1.TargetActivity) *peerv1.Report {
	return &peerv1.Report{ReplicaId: id, Seq: 1, Sent: timestamppb.Now(),
		HeartbeatInterval: durationpb.New(time.Second), Targets: targets,
		Started: timestamppb.New(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))}
}

// act is one target's activity in a report; lastSeenAgo < 0 leaves last_seen unset.
func act(target string, total, inFlight, held uint64, lastSeenAgo time.Duration) *peerv1.TargetActivity {
	a := &peerv1.TargetActivity{Target: target, RequestsTotal: total, InFlight: inFlight, Held: held}
	if lastSeenAgo >= 0 {
		a.LastSeen = timestamppb.New(time.Now().Add(-lastSeenAgo))
	}
	return a
}

// mustIngest takes r into v as received now.
func mustIngest(t *testing.T, v *View, r *peerv1.Report) {
	t.Helper()
	if err := v.ingest("10.0.0.1:9091", r, time.Now()); err != nil {
		t.Fatalf("ingest: %v", err)
	}
}
