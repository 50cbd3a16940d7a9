package filter

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wakegate/wakegate/internal/gate"
)

// holdingChecker holds every request until release is closed or ctx ends, announcing the
// hold on holding.
func holdingChecker(holding chan<- struct{}, release <-chan struct{}) *fakeChecker {
	return &fakeChecker{decide: func(ctx context.Context, req gate.Request) gate.Decision {
		if req.OnHold != nil {
			req.OnHold(time.Minute)
		}
		close(holding)
		select {
		case <-release:
			return gate.Decision{Outcome: gate.Released, Target: "airflow", Held: 20 * time.Millisecond}
		case <-ctx.Done():
			return gate.Decision{Outcome: gate.Canceled, Target: "airflow"}
		}
	}}
}

func TestExtProcClientCancelsMidHold(t *testing.T) {
	for _, override := range []bool{false, true} {
		t.Run(map[bool]string{false: "no override", true: "override"}[override], func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // first registered: runs after the server stopped
			holding := make(chan struct{})
			fc := holdingChecker(holding, nil)
			h := startExtProc(t, ExtProcOptions{Gate: fc, OverrideMessageTimeout: override})
			ctx, cancel := context.WithCancel(t.Context())
			stream, err := h.client.Process(ctx)
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if err := stream.Send(reqHeaders(":authority", "airflow.example.com", ":path", "/")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if override {
				r, err := stream.Recv()
				if err != nil {
					t.Fatalf("Recv: %v", err)
				}
				expectOverride(time.Minute+DefaultOverrideMargin)(t, r)
			}
			<-holding
			cancel()
			if err := h.waitEnded(t); status.Code(err) != codes.Canceled {
				t.Errorf("Process returned %v, want Canceled", err)
			}
			_, finished := fc.snapshot()
			if diff := cmp.Diff([]gate.Decision{{Outcome: gate.Canceled, Target: "airflow"}}, finished); diff != "" {
				t.Errorf("Finish calls (-want +got):\n%s", diff)
			}
		})
	}
}

// A half-close is not a cancellation: the held request is still answered.
func TestExtProcHalfCloseMidHold(t *testing.T) {
	holding, release := make(chan struct{}), make(chan struct{})
	fc := holdingChecker(holding, release)
	h := startExtProc(t, ExtProcOptions{Gate: fc})
	stream, err := h.client.Process(t.Context())
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if err := stream.Send(reqHeaders(":authority", "airflow.example.com", ":path", "/")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	<-holding
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	if err := <-h.recvErr; !errors.Is(err, io.EOF) {
		t.Fatalf("server Recv ended with %v, want io.EOF", err)
	}
	close(release)
	r, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	expectRequestContinue(map[string]string{ColdStartHeader: "20"})(t, r)
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after the answer = %v, want io.EOF", err)
	}
	if err := h.waitEnded(t); err != nil {
		t.Errorf("Process returned %v, want nil", err)
	}
	if _, finished := fc.snapshot(); len(finished) != 1 || finished[0].Outcome != gate.Released {
		t.Errorf("Finish calls %v, want one Released", finished)
	}
}
