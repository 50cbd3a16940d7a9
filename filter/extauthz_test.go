package filter

import (
	"context"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

// authzCase is one Check: the gate's decision, the answer expected and the Finish calls.
type authzCase struct {
	name     string
	decide   func(context.Context, gate.Request) gate.Decision
	req      *authv3.CheckRequest
	expect   func(*testing.T, *authv3.CheckResponse) // nil: the call fails with wantCode
	wantCode codes.Code
	finished []gate.Decision
}

func TestExtAuthzOutcomes(t *testing.T) {
	app := appDecision
	released := gate.Decision{Outcome: gate.Released, Target: "airflow", Held: 1234567 * time.Microsecond}
	get := func() *authv3.CheckRequest { return checkReq("airflow.example.com", "/home", "accept", "*/*") }
	browse := func() *authv3.CheckRequest { return checkReq("airflow.example.com", "/home", "accept", chromeAccept) }
	htmlTimeout := app(gate.TimedOut)
	htmlTimeout.HTML = true
	page := gate.Decision{Outcome: gate.WaitPage, Target: "airflow", RetryAfter: 2500 * time.Millisecond, HTML: true}
	tests := []authzCase{
		{name: "warm", decide: decideAlways(app(gate.Ready)), req: get(),
			expect: expectAllowed(nil), finished: []gate.Decision{app(gate.Ready)}},
		{name: "unmatched", decide: decideAlways(gate.Decision{Outcome: gate.Pass}), req: get(),
			expect: expectAllowed(nil), finished: []gate.Decision{{Outcome: gate.Pass}}},
		{name: "released", decide: decideAlways(released), req: get(),
			expect: expectAllowed(map[string]string{ColdStartHeader: "1234"}), finished: []gate.Decision{released}},
		{name: "timeout plain", decide: htmlIfBrowser(app(gate.TimedOut)), req: get(),
			expect:   expectDenied("wakegate_hold_timeout", "5", "text/plain; charset=utf-8", "airflow did not become ready in time"),
			finished: []gate.Decision{app(gate.TimedOut)}},
		{name: "timeout browser", decide: htmlIfBrowser(app(gate.TimedOut)), req: browse(),
			expect: expectDenied("wakegate_hold_timeout", "5", "text/html; charset=utf-8",
				"Starting airflow", `<meta http-equiv="refresh" content="2">`),
			finished: []gate.Decision{htmlTimeout}},
		{name: "waiting page", decide: decideAlways(page), req: browse(),
			expect:   expectDenied("wakegate_waiting_page", "3", "text/html; charset=utf-8", "is waking up now"),
			finished: []gate.Decision{page}},
		{name: "overload", decide: decideAlways(app(gate.Overload)), req: get(),
			expect:   expectDenied("wakegate_overload", "5", "text/plain; charset=utf-8", "airflow has too many requests"),
			finished: []gate.Decision{app(gate.Overload)}},
		{name: "draining", decide: decideAlways(app(gate.Draining)), req: get(),
			expect:   expectDenied("wakegate_draining", "5", "text/plain; charset=utf-8", "shutting down"),
			finished: []gate.Decision{app(gate.Draining)}},
		{name: "canceled without context end", decide: decideAlways(app(gate.Canceled)), req: get(),
			wantCode: codes.Canceled, finished: []gate.Decision{app(gate.Canceled)}},
		{name: "no http attributes", decide: decideAlways(gate.Decision{Outcome: gate.Pass}), req: &authv3.CheckRequest{},
			expect: expectAllowed(nil), finished: []gate.Decision{{Outcome: gate.Pass}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runAuthzCase(t, tc) })
	}
}

// runAuthzCase makes one Check against a fresh server and checks the answer, the call's
// end and that Finish was called exactly once, before Check returned.
func runAuthzCase(t *testing.T, tc authzCase) {
	fc := &fakeChecker{decide: tc.decide}
	h := startExtAuthz(t, ExtAuthzOptions{Gate: fc})
	r, err := h.client.Check(t.Context(), tc.req)
	if status.Code(err) != tc.wantCode {
		t.Fatalf("Check = %v, %v; want code %v", r, err, tc.wantCode)
	}
	if tc.expect != nil {
		tc.expect(t, r)
	}
	if ended := <-h.ended; status.Code(ended) != tc.wantCode {
		t.Errorf("server Check returned %v, want code %v", ended, tc.wantCode)
	}
	reqs, finished := fc.snapshot()
	if len(reqs) != 1 || reqs[0].OnHold != nil {
		t.Errorf("Check calls %d (OnHold set: %v), want 1 without OnHold", len(reqs), len(reqs) > 0 && reqs[0].OnHold != nil)
	}
	if diff := cmp.Diff(tc.finished, finished); diff != "" {
		t.Errorf("Finish calls (-want +got):\n%s", diff)
	}
}

func TestExtAuthzRequest(t *testing.T) {
	tests := []struct {
		name string
		req  *authv3.CheckRequest
		want gate.Request // Headers are not compared
		env  string       // want Headers.Get("x-env")
	}{
		{name: "headers map", req: checkReq("a.example.com:8080", "/x?y=1", "x-env", "green", "accept", chromeAccept),
			want: gate.Request{Request: route.Request{Authority: "a.example.com:8080", Path: "/x?y=1"}, Browser: true}, env: "green"},
		{name: "joined accept values", req: checkReq("a", "/", "accept", "application/json;q=0.5, text/html"),
			want: gate.Request{Request: route.Request{Authority: "a", Path: "/"}, Browser: true}},
		{name: "api client", req: checkReq("a", "/", "accept", "application/json, */*;q=0.1"),
			want: gate.Request{Request: route.Request{Authority: "a", Path: "/"}}},
		{name: "header_map (encode_raw_headers)", req: rawCheckReq("r.example.com", "/raw", "x-env", "blue", "accept", "text/html", "accept", "*/*;q=0.1"),
			want: gate.Request{Request: route.Request{Authority: "r.example.com", Path: "/raw"}, Browser: true}, env: "blue"},
		{name: "fields win over headers", req: hostPath(checkReq("header.example.com", "/header"), "field.example.com", "/field"),
			want: gate.Request{Request: route.Request{Authority: "field.example.com", Path: "/field"}}},
		{name: "headers when fields are empty", req: hostPath(checkReq("header.example.com", "/header"), "", ""),
			want: gate.Request{Request: route.Request{Authority: "header.example.com", Path: "/header"}}},
		{name: "host header fallback", req: hostPath(&authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"host": "h.example.com", "x-env": "red"}}}}}, "", ""),
			want: gate.Request{Request: route.Request{Authority: "h.example.com"}}, env: "red"},
		{name: "context extension names the target", req: withExtensions(checkReq("a", "/"), map[string]string{ContextExtensionTarget: "named", "other": "x"}),
			want: gate.Request{Request: route.Request{Authority: "a", Path: "/"}, Target: "named"}},
		{name: "other context extensions ignored", req: withExtensions(checkReq("a", "/"), map[string]string{"target": "no"}),
			want: gate.Request{Request: route.Request{Authority: "a", Path: "/"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeChecker{decide: decideAlways(gate.Decision{Outcome: gate.Pass})}
			h := startExtAuthz(t, ExtAuthzOptions{Gate: fc})
			if _, err := h.client.Check(t.Context(), tc.req); err != nil {
				t.Fatalf("Check: %v", err)
			}
			reqs, _ := fc.snapshot()
			got := reqs[0]
			env, _ := got.Headers.Get("x-env")
			got.Headers = nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("gate.Request (-want +got):\n%s", diff)
			}
			if env != tc.env {
				t.Errorf("Headers.Get(x-env) = %q, want %q", env, tc.env)
			}
		})
	}
}

// hostPath sets the request's host and path fields.
func hostPath(cr *authv3.CheckRequest, host, path string) *authv3.CheckRequest {
	cr.Attributes.Request.Http.Host, cr.Attributes.Request.Http.Path = host, path
	return cr
}

// The context extension reaches the real gate's routing: it overrides the host match.
func TestExtAuthzContextExtensionRoutes(t *testing.T) {
	g, p, tracker := newRealGate(t)
	p.setReady()
	h := startExtAuthz(t, ExtAuthzOptions{Gate: g})
	other := checkReq("other.example.com", "/")
	if r, err := h.client.Check(t.Context(), other); err != nil {
		t.Fatalf("Check: %v", err)
	} else {
		expectAllowed(nil)(t, r)
	}
	named := withExtensions(checkReq("other.example.com", "/"), map[string]string{ContextExtensionTarget: "airflow"})
	if _, err := h.client.Check(t.Context(), named); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if st, _ := tracker.Stats("airflow"); st.RequestsTotal != 1 || st.InFlight != 0 {
		t.Errorf("tracker stats %+v, want 1 request (the named one), none in flight", st)
	}
}

func TestExtAuthzNoGate(t *testing.T) {
	h := startExtAuthz(t, ExtAuthzOptions{})
	if _, err := h.client.Check(t.Context(), checkReq("a", "/")); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Check = %v, want FailedPrecondition", err)
	}
}
