package peer

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

// fakeStream is a Subscribe stream that records what is sent, with its send time.
type fakeStream struct {
	ctx  context.Context
	sent chan sentReport
}

type sentReport struct {
	at  time.Time
	rep *peerv1.Report
}

func (f *fakeStream) Send(r *peerv1.SubscribeResponse) error {
	f.sent <- sentReport{time.Now(), r.GetReport()}
	return nil
}
func (f *fakeStream) Context() context.Context     { return f.ctx }
func (f *fakeStream) SetHeader(metadata.MD) error  { return nil }
func (f *fakeStream) SendHeader(metadata.MD) error { return nil }
func (f *fakeStream) SetTrailer(metadata.MD)       {}
func (f *fakeStream) SendMsg(any) error            { return nil }
func (f *fakeStream) RecvMsg(any) error            { return nil }

// next returns the next report sent, failing if none is ready (call synctest.Wait first).
func (f *fakeStream) next(t *testing.T, what string) sentReport {
	t.Helper()
	select {
	case s := <-f.sent:
		return s
	default:
		t.Fatalf("%s: no report sent", what)
		return sentReport{}
	}
}

func (f *fakeStream) none(t *testing.T, what string) {
	t.Helper()
	select {
	case s := <-f.sent:
		t.Fatalf("%s: unexpected report seq %d", what, s.rep.GetSeq())
	default:
	}
}

func TestServerSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, tr, _ := newView(t, 0)
		v.SetTargets([]string{"a", "idle"})
		s, err := NewServer(ServerOptions{ReplicaID: "me", Tracker: tr, Edges: v, Heartbeat: time.Second, Coalesce: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		fs := &fakeStream{ctx: ctx, sent: make(chan sentReport, 16)}
		done := make(chan error, 1)
		go func() { done <- s.Subscribe(&peerv1.SubscribeRequest{ReplicaId: "you"}, fs) }()
		synctest.Wait()
		start := time.Now()
		first := fs.next(t, "on open")
		if first.rep.GetSeq() != 1 || first.rep.GetReplicaId() != "me" || len(first.rep.GetTargets()) != 0 {
			t.Errorf("first report = %v, want seq 1 from me with no targets (none has counts)", first.rep)
		}

		time.Sleep(500 * time.Millisecond)
		tr.Begin("a")
		synctest.Wait()
		edge := fs.next(t, "first edge")
		if edge.at != time.Now() || edge.rep.GetSeq() != 2 || edge.rep.GetTargets()[0].GetInFlight() != 1 {
			t.Errorf("first edge: report %v at +%s, want seq 2 with a in flight, undelayed", edge.rep, edge.at.Sub(start))
		}

		tr.HoldStart("a") // a burst right after: coalesced
		tr.HoldEnd("a")
		tr.HoldStart("a")
		synctest.Wait()
		fs.none(t, "within the coalescing window")
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		burst := fs.next(t, "after the coalescing window")
		if got := burst.rep.GetTargets()[0]; got.GetHeld() != 1 || burst.at.Sub(edge.at) != 10*time.Millisecond {
			t.Errorf("burst: %v after %s, want held 1 after 10ms", got, burst.at.Sub(edge.at))
		}

		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		fs.none(t, "before the heartbeat")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if hb := fs.next(t, "heartbeat"); hb.rep.GetSeq() != 4 || len(hb.rep.GetTargets()) != 1 {
			t.Errorf("heartbeat = %v, want seq 4 with a only", hb.rep)
		}

		s.Drain()
		synctest.Wait()
		if bye := fs.next(t, "goodbye"); !bye.rep.GetFinal() || bye.rep.GetTargets()[0].GetHeld() != 1 {
			t.Errorf("goodbye = %v, want final with the current counts", bye.rep)
		}
		if err := <-done; err != nil {
			t.Errorf("Subscribe after Drain = %v, want nil", err)
		}
		// A subscription opened after Drain gets the goodbye at once.
		if err := s.Subscribe(&peerv1.SubscribeRequest{ReplicaId: "late"}, fs); err != nil {
			t.Errorf("late Subscribe = %v", err)
		}
		if late := fs.next(t, "late goodbye"); !late.rep.GetFinal() || late.rep.GetSeq() != 1 {
			t.Errorf("late report = %v, want final seq 1", late.rep)
		}
	})
}

func TestServerSubscribeEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, tr, _ := newView(t, 0)
		s, err := NewServer(ServerOptions{ReplicaID: "me", Tracker: tr, Edges: v})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		fs := &fakeStream{ctx: ctx, sent: make(chan sentReport, 16)}
		if err := s.Subscribe(&peerv1.SubscribeRequest{}, fs); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Subscribe without replica_id = %v, want InvalidArgument", err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Subscribe(&peerv1.SubscribeRequest{ReplicaId: "you"}, fs) }()
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Subscribe after the subscriber left = %v, want nil", err)
		}
	})
}

func TestNewServerOptions(t *testing.T) {
	v, tr, _ := newView(t, 0)
	tests := []struct {
		name string
		opts ServerOptions
		ok   bool
	}{
		{"defaults", ServerOptions{ReplicaID: "me", Tracker: tr, Edges: v}, true},
		{"no replica id", ServerOptions{Tracker: tr, Edges: v}, false},
		{"no tracker", ServerOptions{ReplicaID: "me", Edges: v}, false},
		{"no edges", ServerOptions{ReplicaID: "me", Tracker: tr}, false},
		{"coalesce not below heartbeat", ServerOptions{ReplicaID: "me", Tracker: tr, Edges: v, Heartbeat: time.Millisecond}, false},
		{"negative heartbeat", ServerOptions{ReplicaID: "me", Tracker: tr, Edges: v, Heartbeat: -time.Second}, false},
	}
	for _, tc := range tests {
		if _, err := NewServer(tc.opts); (err == nil) != tc.ok {
			t.Errorf("%s: NewServer error = %v, want ok = %v", tc.name, err, tc.ok)
		}
	}
}
