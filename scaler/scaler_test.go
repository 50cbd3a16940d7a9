package scaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/wakegate/wakegate/internal/activity"
)

func TestIsActive(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"idle", "inflight", "held", "recent", "old", "zero", "zero-busy"}})
	tests := []struct {
		name   string
		target string
		kv     []string
		drive  func(t *testing.T, tr *activity.Tracker, target string)
		want   bool
	}{
		{name: "unknown target", target: "nope", drive: begin, want: false},
		{name: "idle", target: "idle", want: false},
		{name: "in flight", target: "inflight", kv: []string{KeyActiveWithin, "0s"}, drive: begin, want: true},
		{name: "held", target: "held", kv: []string{KeyActiveWithin, "0s"}, drive: beginHeld, want: true},
		{name: "seen within activeWithin", target: "recent", kv: []string{KeyActiveWithin, "1h"}, drive: beginEnd, want: true},
		{name: "seen long ago", target: "old", kv: []string{KeyActiveWithin, "1ms"}, drive: beginEndAndWait(time.Millisecond), want: false},
		{name: "activeWithin 0 after the request", target: "zero", kv: []string{KeyActiveWithin, "0s"}, drive: beginEnd, want: false},
		{name: "activeWithin 0 while busy", target: "zero-busy", kv: []string{KeyActiveWithin, "0"}, drive: begin, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.drive != nil {
				tc.drive(t, h.tr, tc.target)
			}
			resp, err := h.client.IsActive(ctxFor(t), ref(tc.target, tc.kv...))
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetResult() != tc.want {
				t.Errorf("IsActive(%s) = %v, want %v", tc.target, resp.GetResult(), tc.want)
			}
		})
	}
}

// begin leaves one request in flight until the test ends.
func begin(t *testing.T, tr *activity.Tracker, target string) {
	tr.Begin(target)
	t.Cleanup(func() { tr.End(target) })
}

// beginHeld leaves one held request until the test ends.
func beginHeld(t *testing.T, tr *activity.Tracker, target string) {
	tr.Begin(target)
	tr.HoldStart(target)
	t.Cleanup(func() { tr.HoldEnd(target); tr.End(target) })
}

func beginEnd(_ *testing.T, tr *activity.Tracker, target string) {
	tr.Begin(target)
	tr.End(target)
}

func beginEndAndWait(d time.Duration) func(*testing.T, *activity.Tracker, string) {
	return func(t *testing.T, tr *activity.Tracker, target string) {
		beginEnd(t, tr, target)
		st, _ := tr.Stats(target)
		waitPast(t, st.LastSeen, d)
	}
}

func TestGetMetricSpec(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"app"}})
	tests := []struct {
		name string
		ref  *pb.ScaledObjectRef
		want *pb.MetricSpec
	}{
		{"defaults", ref("app"), &pb.MetricSpec{MetricName: "wakegate-request-rate", TargetSize: 100, TargetSizeFloat: 100}},
		{"concurrency, fractional target", ref("app", KeyMetric, "concurrency", KeyTargetValue, "2.5"),
			&pb.MetricSpec{MetricName: "wakegate-concurrency", TargetSize: 3, TargetSizeFloat: 2.5}},
		{"unknown target still gets its spec", ref("later", KeyTargetValue, "7"),
			&pb.MetricSpec{MetricName: "wakegate-request-rate", TargetSize: 7, TargetSizeFloat: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.client.GetMetricSpec(ctxFor(t), tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			want := &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{tc.want}}
			if d := cmp.Diff(want, resp, protocmp.Transform()); d != "" {
				t.Errorf("GetMetricSpec (-want +got):\n%s", d)
			}
		})
	}
}

func TestGetMetrics(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"busy", "calm", "cold", "conc"}})
	// 25 requests in the same few milliseconds: a 10s window holds all of them for the next
	// nine seconds at least, whatever second boundary falls in between.
	for range 25 {
		beginEnd(t, h.tr, "busy")
	}
	beginEnd(t, h.tr, "calm")
	for range 3 {
		begin(t, h.tr, "conc")
	}
	h.tr.HoldStart("conc")
	t.Cleanup(func() { h.tr.HoldEnd("conc") })

	tests := []struct {
		name      string
		ref       *pb.ScaledObjectRef
		asked     string
		wantName  string
		wantFloat float64
		wantInt   int64
	}{
		{"rate over 10s", ref("busy", KeyWindow, "10s"), "wakegate-request-rate", "wakegate-request-rate", 2.5, 3},
		{"rate with KEDA prefix", ref("busy", KeyWindow, "10s"), "s0-wakegate-request-rate", "wakegate-request-rate", 2.5, 3},
		{"rate with two-digit prefix", ref("busy", KeyWindow, "10s"), "s12-wakegate-request-rate", "wakegate-request-rate", 2.5, 3},
		{"no metric name", ref("busy", KeyWindow, "10s"), "", "wakegate-request-rate", 2.5, 3},
		{"one request a minute rounds up to 1", ref("calm"), "wakegate-request-rate", "wakegate-request-rate", 1.0 / 60, 1},
		{"no traffic", ref("cold"), "wakegate-request-rate", "wakegate-request-rate", 0, 0},
		{"unknown target", ref("nope"), "wakegate-request-rate", "wakegate-request-rate", 0, 0},
		{"concurrency counts held once", ref("conc", KeyMetric, "concurrency"), "s1-wakegate-concurrency", "wakegate-concurrency", 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.client.GetMetrics(ctxFor(t), &pb.GetMetricsRequest{ScaledObjectRef: tc.ref, MetricName: tc.asked})
			if err != nil {
				t.Fatal(err)
			}
			want := &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{
				{MetricName: tc.wantName, MetricValue: tc.wantInt, MetricValueFloat: tc.wantFloat}}}
			if d := cmp.Diff(want, resp, protocmp.Transform()); d != "" {
				t.Errorf("GetMetrics (-want +got):\n%s", d)
			}
		})
	}
}

func TestGetMetricsRejectsRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"app"}})
	tests := []struct {
		name string
		req  *pb.GetMetricsRequest
		want []string // in the status message
	}{
		{"other metric", &pb.GetMetricsRequest{ScaledObjectRef: ref("app"), MetricName: "s0-wakegate-concurrency"},
			[]string{`"s0-wakegate-concurrency"`, `"requestRate"`}},
		{"foreign metric", &pb.GetMetricsRequest{ScaledObjectRef: ref("app"), MetricName: "cpu"}, []string{`"cpu"`}},
		{"no ref", &pb.GetMetricsRequest{MetricName: "wakegate-request-rate"}, []string{"scaledObjectRef"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.GetMetrics(ctxFor(t), tc.req)
			wantInvalid(t, err, tc.want...)
		})
	}
}

// wantInvalid checks err is InvalidArgument and its message holds every part.
func wantInvalid(t *testing.T, err error, parts ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v (%v), want InvalidArgument", st.Code(), err)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("message %q lacks %q", st.Message(), p)
		}
	}
}

func TestBadMetadataEveryMethod(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"app"}})
	bad := [][2]string{
		{KeyMetric, "rps"},
		{KeyTargetValue, "abc"},
		{KeyTargetValue, "0"},
		{KeyWindow, "5m5"},
		{KeyWindow, "20m"},
		{KeyActiveWithin, "-1s"},
	}
	methods := map[string]func(r *pb.ScaledObjectRef) error{
		"IsActive": func(r *pb.ScaledObjectRef) error { _, err := h.client.IsActive(ctxFor(t), r); return err },
		"GetMetricSpec": func(r *pb.ScaledObjectRef) error {
			_, err := h.client.GetMetricSpec(ctxFor(t), r)
			return err
		},
		"GetMetrics": func(r *pb.ScaledObjectRef) error {
			_, err := h.client.GetMetrics(ctxFor(t), &pb.GetMetricsRequest{ScaledObjectRef: r, MetricName: "s0-wakegate-request-rate"})
			return err
		},
		"StreamIsActive": func(r *pb.ScaledObjectRef) error {
			st, err := h.client.StreamIsActive(ctxFor(t), r)
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		},
	}
	for method, call := range methods {
		for _, kv := range bad {
			t.Run(method+"/"+kv[0]+"="+kv[1], func(t *testing.T) {
				wantInvalid(t, call(ref("app", kv[0], kv[1])), `"`+kv[0]+`"`, `"`+kv[1]+`"`)
			})
		}
	}
}

func TestStreamMetricSpecUnimplemented(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"app"}})
	st, err := h.client.StreamMetricSpec(ctxFor(t), ref("app"))
	if err == nil {
		_, err = st.Recv()
	}
	if c := status.Code(err); c != codes.Unimplemented {
		t.Fatalf("StreamMetricSpec: code %v (%v), want Unimplemented", c, err)
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		resp, err := h.health.Check(ctxFor(t), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		return resp.GetStatus()
	}
	services := []string{"", pb.ExternalScaler_ServiceDesc.ServiceName}
	for _, svc := range services {
		if got := check(svc); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, want SERVING", svc, got)
		}
	}
	h.srv.Drain()
	for _, svc := range services {
		if got := check(svc); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("after Drain, Check(%q) = %v, want NOT_SERVING", svc, got)
		}
	}
}

func TestNewRejectsMissingOptions(t *testing.T) {
	tr := activity.New(0)
	r := NameResolver(func(string) bool { return true })
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no counts", Options{Resolver: r}, "Counts"},
		{"no resolver", Options{Counts: tr}, "Resolver"},
		{"retention below a second", Options{Counts: tr, Resolver: r, Retention: time.Millisecond}, "Retention"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestStripIndex(t *testing.T) {
	for in, want := range map[string]string{
		"s0-wakegate-concurrency":   "wakegate-concurrency",
		"s17-wakegate-request-rate": "wakegate-request-rate",
		"wakegate-concurrency":      "wakegate-concurrency",
		"s-wakegate":                "s-wakegate",
		"sx-wakegate":               "sx-wakegate",
		"s1":                        "s1",
		"":                          "",
	} {
		if got := stripIndex(in); got != want {
			t.Errorf("stripIndex(%q) = %q, want %q", in, got, want)
		}
	}
}
