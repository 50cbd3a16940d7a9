package filter

import (
	"context"
	"strconv"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wakegate/wakegate/internal/gate"
)

func TestExtAuthzClientCancelsMidHold(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // first registered: runs after the server stopped
	holding := make(chan struct{})
	fc := holdingChecker(holding, nil)
	h := startExtAuthz(t, ExtAuthzOptions{Gate: fc})
	ctx, cancel := context.WithCancel(t.Context())
	called := make(chan error, 1)
	go func() {
		_, err := h.client.Check(ctx, checkReq("airflow.example.com", "/"))
		called <- err
	}()
	<-holding
	cancel()
	if err := <-called; status.Code(err) != codes.Canceled {
		t.Errorf("client Check = %v, want Canceled", err)
	}
	if err := <-h.ended; status.Code(err) != codes.Canceled {
		t.Errorf("server Check returned %v, want Canceled", err)
	}
	_, finished := fc.snapshot()
	if diff := cmp.Diff([]gate.Decision{{Outcome: gate.Canceled, Target: "airflow"}}, finished); diff != "" {
		t.Errorf("Finish calls (-want +got):\n%s", diff)
	}
}

// The gate is told to end a hold DeadlineMargin before the call's deadline (it then answers
// like a hold timeout); a call without a deadline sets none.
func TestExtAuthzDeadlineMargin(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // of the client's call; 0: none
		margin  time.Duration
	}{
		{name: "deadline", timeout: time.Minute, margin: 3 * time.Second},
		{name: "default margin", timeout: time.Minute},
		{name: "no deadline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeChecker{decide: func(context.Context, gate.Request) gate.Decision {
				return gate.Decision{Outcome: gate.Ready, Target: "airflow"}
			}}
			h := startExtAuthz(t, ExtAuthzOptions{Gate: fc, DeadlineMargin: tc.margin})
			ctx := t.Context()
			var want time.Time
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
				dl, _ := ctx.Deadline()
				margin := tc.margin
				if margin == 0 {
					margin = DefaultDeadlineMargin
				}
				want = dl.Add(-margin)
			}
			if _, err := h.client.Check(ctx, checkReq("airflow.example.com", "/")); err != nil {
				t.Fatalf("Check: %v", err)
			}
			reqs, _ := fc.snapshot()
			got := reqs[0].Deadline
			// The deadline crosses the wire in whole microseconds or so: allow a small skew.
			if want.IsZero() != got.IsZero() || got.Sub(want).Abs() > 50*time.Millisecond {
				t.Errorf("gate request Deadline = %v, want %v", got, want)
			}
		})
	}
}

// TestExtAuthzRealGate wires the real gate behind the server: a cold target is held, woken
// and allowed with the cold-start header once ready; then a warm request is allowed at
// once. Nothing stays in flight or held after the calls.
func TestExtAuthzRealGate(t *testing.T) {
	g, p, tracker := newRealGate(t)
	h := startExtAuthz(t, ExtAuthzOptions{Gate: g})
	type result struct {
		r   *authv3.CheckResponse
		err error
	}
	cold := make(chan result, 1)
	go func() {
		r, err := h.client.Check(t.Context(), checkReq("airflow.example.com", "/home"))
		cold <- result{r, err}
	}()
	if got := <-p.woken; got != "airflow" { // the wake loop starts after the hold began
		t.Errorf("woke %q, want airflow", got)
	}
	if st, _ := tracker.Stats("airflow"); st.InFlight != 1 || st.Held != 1 {
		t.Errorf("while held: stats %+v, want 1 in flight and held", st)
	}
	p.setReady()
	res := <-cold
	if res.err != nil {
		t.Fatalf("cold Check: %v", res.err)
	}
	hs := res.r.GetOkResponse().GetHeaders()
	if len(hs) != 1 || hs[0].GetHeader().GetKey() != ColdStartHeader {
		t.Fatalf("answer %v, want OK setting %s", res.r, ColdStartHeader)
	}
	if n, err := strconv.Atoi(hs[0].GetHeader().GetValue()); err != nil || n < 0 {
		t.Errorf("%s = %q, want whole milliseconds", ColdStartHeader, hs[0].GetHeader().GetValue())
	}
	r, err := h.client.Check(t.Context(), checkReq("airflow.example.com", "/home"))
	if err != nil {
		t.Fatalf("warm Check: %v", err)
	}
	expectAllowed(nil)(t, r)
	if st, _ := tracker.Stats("airflow"); st.RequestsTotal != 2 || st.InFlight != 0 || st.Held != 0 {
		t.Errorf("tracker stats %+v, want 2 requests, none in flight or held", st)
	}
}

// With the real gate: a client that goes away mid-hold leaves no count behind, and a call
// whose deadline falls within the margin gets the gate's waiting page (the policy allows
// it) while the target is woken.
func TestExtAuthzRealGateCancelAndDeadline(t *testing.T) {
	g, p, tracker := newRealGate(t)
	h := startExtAuthz(t, ExtAuthzOptions{Gate: g, DeadlineMargin: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	called := make(chan error, 1)
	go func() {
		_, err := h.client.Check(ctx, checkReq("airflow.example.com", "/"))
		called <- err
	}()
	<-p.woken
	cancel()
	if err := <-called; status.Code(err) != codes.Canceled {
		t.Errorf("canceled Check = %v, want Canceled", err)
	}
	<-h.ended
	if st, _ := tracker.Stats("airflow"); st.InFlight != 0 || st.Held != 0 {
		t.Errorf("after cancel: stats %+v, want none in flight or held", st)
	}

	short, cancelShort := context.WithTimeout(t.Context(), time.Minute)
	defer cancelShort()
	r, err := h.client.Check(short, checkReq("airflow.example.com", "/", "accept", chromeAccept))
	if err != nil {
		t.Fatalf("Check with a short deadline: %v", err)
	}
	expectDenied("wakegate_hold_timeout", "5", "text/html; charset=utf-8", "Starting airflow")(t, r)
	if st, _ := tracker.Stats("airflow"); st.RequestsTotal != 2 || st.InFlight != 0 || st.Held != 0 {
		t.Errorf("tracker stats %+v, want 2 requests, none in flight or held", st)
	}
}
