package filter

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

const chromeAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"

// step sends a message, or receives one answer and checks it.
type step struct {
	send   *extprocv3.ProcessingRequest
	expect func(t *testing.T, r *extprocv3.ProcessingResponse)
}

// sequenceCase is one stream: messages sent, answers expected, and how it ends.
type sequenceCase struct {
	name     string
	override bool
	margin   time.Duration
	decide   func(context.Context, gate.Request) gate.Decision
	steps    []step
	wantCode codes.Code // of the stream's end
	wantReqs int        // Check calls
	finished []gate.Decision
}

func TestExtProcSequences(t *testing.T) {
	for _, tc := range sequenceCases() {
		t.Run(tc.name, func(t *testing.T) { runSequence(t, tc) })
	}
}

// appDecision is a decision for the "airflow" target.
func appDecision(o gate.Outcome) gate.Decision {
	return gate.Decision{Outcome: o, Target: "airflow", RetryAfter: 5 * time.Second}
}

// holdThen starts a hold (calling OnHold twice, which must send one override) and decides d.
func holdThen(d gate.Decision) func(context.Context, gate.Request) gate.Decision {
	return func(_ context.Context, req gate.Request) gate.Decision {
		if req.OnHold != nil {
			req.OnHold(30 * time.Second)
			req.OnHold(30 * time.Second)
		}
		return d
	}
}

// htmlIfBrowser decides d, with the waiting page for browsers.
func htmlIfBrowser(d gate.Decision) func(context.Context, gate.Request) gate.Decision {
	return func(_ context.Context, req gate.Request) gate.Decision {
		d.HTML = req.Browser
		return d
	}
}

func getMsg() *extprocv3.ProcessingRequest {
	return reqHeaders(":authority", "airflow.example.com", ":path", "/home", ":method", "GET", "accept", "*/*")
}

func browseMsg() *extprocv3.ProcessingRequest {
	return reqHeaders(":authority", "airflow.example.com", ":path", "/home", "accept", chromeAccept)
}

func sequenceCases() []sequenceCase { return append(decisionCases(), protocolCases()...) }

// decisionCases cover each gate outcome's answer and the timeout override.
func decisionCases() []sequenceCase {
	app := appDecision
	released := gate.Decision{Outcome: gate.Released, Target: "airflow", Held: 1234567 * time.Microsecond}
	get, browse := getMsg(), browseMsg()
	return []sequenceCase{
		{name: "warm", decide: decideAlways(app(gate.Ready)),
			steps:    []step{{send: get}, {expect: expectRequestContinue(nil)}},
			wantReqs: 1, finished: []gate.Decision{app(gate.Ready)}},
		{name: "unmatched", decide: decideAlways(gate.Decision{Outcome: gate.Pass}),
			steps:    []step{{send: get}, {expect: expectRequestContinue(nil)}},
			wantReqs: 1, finished: []gate.Decision{{Outcome: gate.Pass}}},
		{name: "released", decide: decideAlways(released),
			steps:    []step{{send: get}, {expect: expectRequestContinue(map[string]string{ColdStartHeader: "1234"})}},
			wantReqs: 1, finished: []gate.Decision{released}},
		{name: "timeout plain", decide: htmlIfBrowser(app(gate.TimedOut)),
			steps:    []step{{send: get}, {expect: expectImmediate("wakegate_hold_timeout", "5", "text/plain; charset=utf-8", "airflow did not become ready in time")}},
			wantReqs: 1, finished: []gate.Decision{app(gate.TimedOut)}},
		{name: "timeout browser", decide: htmlIfBrowser(app(gate.TimedOut)),
			steps: []step{{send: browse}, {expect: expectImmediate("wakegate_hold_timeout", "5", "text/html; charset=utf-8",
				"Starting airflow", `<meta http-equiv="refresh" content="2">`)}},
			wantReqs: 1, finished: []gate.Decision{{Outcome: gate.TimedOut, Target: "airflow", RetryAfter: 5 * time.Second, HTML: true}}},
		{name: "waiting page", decide: decideAlways(gate.Decision{Outcome: gate.WaitPage, Target: "airflow", RetryAfter: 2500 * time.Millisecond, HTML: true}),
			steps: []step{{send: browse}, {expect: expectImmediate("wakegate_waiting_page", "3", "text/html; charset=utf-8",
				"Starting airflow", "is waking up now", `content="2"`)}},
			wantReqs: 1, finished: []gate.Decision{{Outcome: gate.WaitPage, Target: "airflow", RetryAfter: 2500 * time.Millisecond, HTML: true}}},
		{name: "overload", decide: decideAlways(app(gate.Overload)),
			steps:    []step{{send: get}, {expect: expectImmediate("wakegate_overload", "5", "text/plain; charset=utf-8", "airflow has too many requests")}},
			wantReqs: 1, finished: []gate.Decision{app(gate.Overload)}},
		{name: "draining", decide: decideAlways(app(gate.Draining)),
			steps:    []step{{send: get}, {expect: expectImmediate("wakegate_draining", "5", "text/plain; charset=utf-8", "shutting down")}},
			wantReqs: 1, finished: []gate.Decision{app(gate.Draining)}},
		{name: "override on", override: true, decide: holdThen(released),
			steps: []step{{send: get}, {expect: expectOverride(31 * time.Second)},
				{expect: expectRequestContinue(map[string]string{ColdStartHeader: "1234"})}},
			wantReqs: 1, finished: []gate.Decision{released}},
		{name: "override margin", override: true, margin: 250 * time.Millisecond, decide: holdThen(app(gate.TimedOut)),
			steps: []step{{send: get}, {expect: expectOverride(30250 * time.Millisecond)},
				{expect: expectImmediate("wakegate_hold_timeout", "5", "text/plain; charset=utf-8")}},
			wantReqs: 1, finished: []gate.Decision{app(gate.TimedOut)}},
		{name: "override off", decide: holdThen(released),
			steps:    []step{{send: get}, {expect: expectRequestContinue(map[string]string{ColdStartHeader: "1234"})}},
			wantReqs: 1, finished: []gate.Decision{released}},
	}
}

// protocolCases cover the other messages, odd streams and malformed input.
func protocolCases() []sequenceCase {
	app := appDecision
	get := getMsg()
	return []sequenceCase{
		{name: "later messages continue", decide: decideAlways(app(gate.Ready)),
			steps: []step{{send: get}, {expect: expectRequestContinue(nil)},
				{send: bodyMsg(false)}, {expect: expectKind[*extprocv3.ProcessingResponse_RequestBody]()},
				{send: &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{RequestTrailers: &extprocv3.HttpTrailers{}}}},
				{expect: expectKind[*extprocv3.ProcessingResponse_RequestTrailers]()},
				{send: respHeaders()}, {expect: expectKind[*extprocv3.ProcessingResponse_ResponseHeaders]()},
				{send: bodyMsg(true)}, {expect: expectKind[*extprocv3.ProcessingResponse_ResponseBody]()},
				{send: &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: &extprocv3.HttpTrailers{}}}},
				{expect: expectKind[*extprocv3.ProcessingResponse_ResponseTrailers]()}},
			wantReqs: 1, finished: []gate.Decision{app(gate.Ready)}},
		{name: "first message not request headers", decide: decideAlways(app(gate.Ready)),
			steps: []step{{send: respHeaders()}, {expect: expectKind[*extprocv3.ProcessingResponse_ResponseHeaders]()}}},
		{name: "observability mode answers nothing", decide: decideAlways(app(gate.TimedOut)),
			steps:    []step{{send: observed(get)}},
			wantReqs: 1, finished: []gate.Decision{app(gate.TimedOut)}},
		{name: "empty message", decide: decideAlways(app(gate.Ready)),
			steps: []step{{send: &extprocv3.ProcessingRequest{}}}, wantCode: codes.InvalidArgument},
		{name: "request headers without headers", decide: decideAlways(gate.Decision{Outcome: gate.Pass}),
			steps: []step{{send: &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{}}},
				{expect: expectRequestContinue(nil)}},
			wantReqs: 1, finished: []gate.Decision{{Outcome: gate.Pass}}},
		{name: "request headers twice", decide: decideAlways(app(gate.Ready)),
			steps:    []step{{send: get}, {expect: expectRequestContinue(nil)}, {send: get}},
			wantCode: codes.InvalidArgument, wantReqs: 1, finished: []gate.Decision{app(gate.Ready)}},
		{name: "canceled without context end", decide: decideAlways(app(gate.Canceled)),
			steps: []step{{send: get}}, wantCode: codes.Canceled, wantReqs: 1, finished: []gate.Decision{app(gate.Canceled)}},
	}
}

// runSequence plays tc against a fresh server and checks the answers, the end of the
// stream and the Finish calls.
func runSequence(t *testing.T, tc sequenceCase) {
	fc := &fakeChecker{decide: tc.decide}
	h := startExtProc(t, ExtProcOptions{Gate: fc, OverrideMessageTimeout: tc.override, OverrideMargin: tc.margin})
	stream, err := h.client.Process(t.Context())
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	for i, st := range tc.steps {
		if st.send != nil {
			if err := stream.Send(st.send); err != nil {
				t.Fatalf("step %d: Send: %v", i, err)
			}
		}
		if st.expect != nil {
			r, err := stream.Recv()
			if err != nil {
				t.Fatalf("step %d: Recv: %v", i, err)
			}
			st.expect(t, r)
		}
	}
	_ = stream.CloseSend()
	_, err = stream.Recv()
	if tc.wantCode == codes.OK && !errors.Is(err, io.EOF) {
		t.Errorf("after the last step: Recv = %v, want io.EOF (no further answer)", err)
	}
	if tc.wantCode != codes.OK && status.Code(err) != tc.wantCode {
		t.Errorf("stream ended with %v, want code %v", err, tc.wantCode)
	}
	if ended := h.waitEnded(t); status.Code(ended) != tc.wantCode {
		t.Errorf("Process returned %v, want code %v", ended, tc.wantCode)
	}
	reqs, finished := fc.snapshot()
	if len(reqs) != tc.wantReqs {
		t.Errorf("Check called %d times, want %d", len(reqs), tc.wantReqs)
	}
	if !tc.override && len(reqs) > 0 && reqs[0].OnHold != nil {
		t.Error("OnHold set although OverrideMessageTimeout is off")
	}
	if diff := cmp.Diff(tc.finished, finished); diff != "" {
		t.Errorf("Finish calls (-want +got):\n%s", diff)
	}
}

func TestExtProcRequestFromMessage(t *testing.T) {
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		MetadataNamespace: {Fields: map[string]*structpb.Value{MetadataTargetKey: structpb.NewStringValue("named")}},
		"other":           {Fields: map[string]*structpb.Value{"x": structpb.NewBoolValue(true)}},
	}}
	valueHeaders := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "host", Value: "legacy.example.com"}, {Key: ":path", Value: "/v"}, {Key: "x-env", Value: "blue"},
	}}
	attrs := map[string]*structpb.Struct{"envoy.filters.http.ext_proc": {Fields: map[string]*structpb.Value{
		"xds.route_name": structpb.NewStringValue("r1")}}}
	tests := []struct {
		name string
		msg  *extprocv3.ProcessingRequest
		want gate.Request // Headers and OnHold are not compared
		env  string       // want Headers.Get("x-env")
	}{
		{name: "raw_value", msg: reqHeaders(":authority", "a.example.com:8080", ":path", "/x?y=1", "x-env", "green", "accept", chromeAccept),
			want: gate.Request{Request: route.Request{Authority: "a.example.com:8080", Path: "/x?y=1"}, Browser: true}, env: "green"},
		{name: "value (older Envoy), host fallback", msg: &extprocv3.ProcessingRequest{
			Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: valueHeaders}}},
			want: gate.Request{Request: route.Request{Authority: "legacy.example.com", Path: "/v"}}, env: "blue"},
		{name: "metadata target, attributes ignored", msg: withMeta(reqHeaders(":authority", "b", ":path", "/"), md, attrs),
			want: gate.Request{Request: route.Request{Authority: "b", Path: "/"}, Target: "named"}},
		{name: "unrelated metadata ignored", msg: withMeta(reqHeaders(":authority", "b", ":path", "/"),
			&corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"other": md.FilterMetadata["other"]}}, attrs),
			want: gate.Request{Request: route.Request{Authority: "b", Path: "/"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeChecker{decide: decideAlways(gate.Decision{Outcome: gate.Pass})}
			h := startExtProc(t, ExtProcOptions{Gate: fc})
			stream, err := h.client.Process(t.Context())
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if err := stream.Send(tc.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatalf("Recv: %v", err)
			}
			reqs, _ := fc.snapshot()
			got := reqs[0]
			env, _ := got.Headers.Get("x-env")
			got.Headers, got.OnHold = nil, nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("gate.Request (-want +got):\n%s", diff)
			}
			if env != tc.env {
				t.Errorf("Headers.Get(x-env) = %q, want %q", env, tc.env)
			}
		})
	}
}

func TestExtProcNoGate(t *testing.T) {
	h := startExtProc(t, ExtProcOptions{})
	stream, err := h.client.Process(t.Context())
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Recv = %v, want FailedPrecondition", err)
	}
}

func withMeta(m *extprocv3.ProcessingRequest, md *corev3.Metadata, attrs map[string]*structpb.Struct) *extprocv3.ProcessingRequest {
	m.MetadataContext, m.Attributes = md, attrs
	return m
}

func observed(m *extprocv3.ProcessingRequest) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: m.Request, ObservabilityMode: true}
}

func bodyMsg(response bool) *extprocv3.ProcessingRequest {
	b := &extprocv3.HttpBody{Body: []byte("chunk"), EndOfStream: true}
	if response {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: b}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: b}}
}
