package integration

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// activeMsg is one StreamIsActive message, or the stream's end (err set), and when the
// client received it.
type activeMsg struct {
	active bool
	err    error
	at     time.Time
}

// TestKEDAScalerPush: KEDA's generated client on wakegate's scaler port. StreamIsActive
// starts with false; one request through Envoy to the target at zero pushes true (the
// figure logged is the time from sending the HTTP request to receiving true). After N
// requests GetMetrics reports N/window, and GetMetricSpec and IsActive answer accordingly.
func TestKEDAScalerPush(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	client := scalerClient(t, s.wg.Ports.Scaler)
	// In local mode a ScaledObjectRef names the target of the same name.
	ref := &pb.ScaledObjectRef{Name: "app", Namespace: "default",
		ScalerMetadata: map[string]string{"window": "10s", "targetValue": "2.5", "scalerAddress": s.wg.Ports.Scaler}}

	msgs := streamIsActive(t, client, ref)
	if m := nextMsg(t, msgs, "the first StreamIsActive message"); m.active {
		t.Fatal("StreamIsActive starts with true for a target that never had a request")
	}
	sent := time.Now()
	cold := make(chan asyncResult, 1)
	sendAsync(t, cold, s.envoy.URL("gated")+"/", appHost)
	m := nextMsg(t, msgs, "true after the first request")
	push := m.at.Sub(sent)
	t.Logf("StreamIsActive: true received %v after the HTTP request was sent to Envoy", push.Round(10*time.Microsecond))
	if !m.active {
		t.Fatal("second StreamIsActive message is false, want true")
	}
	if push > time.Second { // asserted loosely: a push, not a poll
		t.Errorf("true arrived %v after the request, want well under 1s", push)
	}
	if r := awaitResults(t, cold, 1, 30*time.Second, "the cold request")[0]; r.err != nil || r.status != http.StatusOK {
		t.Fatalf("cold request: status %d, err %v", r.status, r.err)
	}

	spans := []reqSpan{{sent, time.Now()}} // the cold request is one of the N
	for len(spans) < 30 {
		start := time.Now()
		if r := s.get(t, appHost); r.status != http.StatusOK {
			t.Fatalf("request %d: status %d", len(spans)+1, r.status)
		}
		spans = append(spans, reqSpan{start, time.Now()})
	}
	checkRate(t, client, ref, spans, 10*time.Second)

	spec, err := client.GetMetricSpec(t.Context(), ref)
	if err != nil {
		t.Fatalf("GetMetricSpec: %v", err)
	}
	if ms := spec.GetMetricSpecs(); len(ms) != 1 || ms[0].GetMetricName() != "wakegate-request-rate" ||
		ms[0].GetTargetSizeFloat() != 2.5 || ms[0].GetTargetSize() != 3 {
		t.Errorf("GetMetricSpec = %v, want one spec wakegate-request-rate, targetSizeFloat 2.5, targetSize 3", ms)
	}
	if a, err := client.IsActive(t.Context(), ref); err != nil || !a.GetResult() {
		t.Errorf("IsActive = %v, %v; want true", a.GetResult(), err)
	}
}

// reqSpan is when a request was sent and when its answer arrived.
type reqSpan struct{ start, end time.Time }

// checkRate calls GetMetrics and checks the rate against the requests' spans. wakegate
// counts a request in the second it sees it (somewhere within its span) and averages the
// whole seconds (now-window, now] of its own clock at the call, so each request is surely
// counted if it started within window-1s of the call's end second, and possibly counted if
// it ended within window of the call's start second.
func checkRate(t *testing.T, client pb.ExternalScalerClient, ref *pb.ScaledObjectRef, spans []reqSpan, window time.Duration) {
	t.Helper()
	callStart := time.Now()
	got, err := client.GetMetrics(t.Context(), &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: "s0-wakegate-request-rate"})
	callEnd := time.Now()
	if err != nil {
		t.Fatalf("GetMetrics: %v", err)
	}
	secs := int64(window / time.Second)
	var sure, maybe int
	for _, s := range spans {
		if s.start.Unix() > callEnd.Unix()-secs {
			sure++
		}
		if s.end.Unix() > callStart.Unix()-secs {
			maybe++
		}
	}
	lo, hi := float64(sure)/float64(secs), float64(maybe)/float64(secs)
	vals := got.GetMetricValues()
	if len(vals) != 1 {
		t.Fatalf("GetMetrics = %v, want one value", vals)
	}
	v := vals[0]
	t.Logf("GetMetrics after %d requests in %v: %v/s (bounds %v..%v, window %v)", len(spans),
		spans[len(spans)-1].end.Sub(spans[0].start).Round(time.Millisecond), v.GetMetricValueFloat(), lo, hi, window)
	if v.GetMetricName() != "wakegate-request-rate" || v.GetMetricValueFloat() < lo || v.GetMetricValueFloat() > hi {
		t.Errorf("GetMetrics = %s %v, want wakegate-request-rate within %v..%v", v.GetMetricName(), v.GetMetricValueFloat(), lo, hi)
	}
	if want := int64(math.Ceil(v.GetMetricValueFloat())); v.GetMetricValue() != want {
		t.Errorf("metricValue %d, want metricValueFloat rounded up, %d", v.GetMetricValue(), want)
	}
}

// scalerClient connects KEDA's generated client to addr, closed when t ends.
func scalerClient(t testing.TB, addr string) pb.ExternalScalerClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pb.NewExternalScalerClient(conn)
}

// streamIsActive opens StreamIsActive for ref and delivers its messages, stamped on
// receipt. When the stream ends, a last message carries Recv's error (io.EOF for a clean
// end) and the channel is closed. It stops when t ends.
func streamIsActive(t testing.TB, client pb.ExternalScalerClient, ref *pb.ScaledObjectRef) <-chan activeMsg {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := client.StreamIsActive(ctx, ref)
	if err != nil {
		cancel()
		t.Fatalf("StreamIsActive: %v", err)
	}
	msgs := make(chan activeMsg, 16)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer close(msgs)
		for {
			m, err := stream.Recv()
			select {
			case msgs <- activeMsg{active: m.GetResult(), err: err, at: time.Now()}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return msgs
}

// nextMsg waits for the next StreamIsActive message; the stream's end fails t.
func nextMsg(t testing.TB, msgs <-chan activeMsg, what string) activeMsg {
	t.Helper()
	select {
	case m, ok := <-msgs:
		if !ok || m.err != nil {
			t.Fatalf("waiting for %s: the stream ended (%v)", what, m.err)
		}
		return m
	case <-deadline(t, 30*time.Second).Done():
		t.Fatalf("waiting for %s: none within 30s", what)
	}
	return activeMsg{}
}
