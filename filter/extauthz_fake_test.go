package filter

import (
	"context"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/test/bufconn"
)

// authzHarness is an ExtAuthz served over bufconn, with the real generated client.
type authzHarness struct {
	client authv3.AuthorizationClient
	ended  chan error // one value per Check call that returned on the server
}

// startExtAuthz serves NewExtAuthz(opts) until the test ends.
func startExtAuthz(t *testing.T, opts ExtAuthzOptions) *authzHarness {
	t.Helper()
	h := &authzHarness{ended: make(chan error, 64)}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		h.ended <- err
		return resp, err
	}))
	authv3.RegisterAuthorizationServer(srv, NewExtAuthz(opts))
	h.client = authv3.NewAuthorizationClient(serveBufconn(t, srv, bufconn.Listen(1<<20)))
	return h
}

// checkReq is a CheckRequest for host and path with a headers map (":authority" and
// ":path" included, as Envoy sends them) and name/value pairs added to it.
func checkReq(host, path string, kv ...string) *authv3.CheckRequest {
	m := map[string]string{":authority": host, ":path": path, ":method": "GET"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Host: host, Path: path, Method: "GET", Headers: m},
	}}}
}

// rawCheckReq is a CheckRequest as Envoy sends it with encode_raw_headers: header_map with
// raw values, no headers map.
func rawCheckReq(host, path string, kv ...string) *authv3.CheckRequest {
	kv = append([]string{":authority", host, ":path", path}, kv...)
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Host: host, Path: path, HeaderMap: hdrs(kv...)},
	}}}
}

// withExtensions sets the request's context extensions.
func withExtensions(cr *authv3.CheckRequest, ext map[string]string) *authv3.CheckRequest {
	cr.Attributes.ContextExtensions = ext
	return cr
}

// expectAllowed checks an OK answer that sets exactly set on the upstream request.
func expectAllowed(set map[string]string) func(*testing.T, *authv3.CheckResponse) {
	return func(t *testing.T, r *authv3.CheckResponse) {
		t.Helper()
		if r.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("status %v, want OK (response %v)", r.GetStatus(), r)
		}
		ok := r.GetOkResponse()
		if ok == nil {
			t.Fatalf("http_response is %T, want ok_response", r.GetHttpResponse())
		}
		if diff := cmp.Diff(set, optionsMap(t, ok.GetHeaders())); diff != "" {
			t.Errorf("upstream headers set (-want +got):\n%s", diff)
		}
		if len(ok.GetHeadersToRemove()) > 0 || len(ok.GetResponseHeadersToAdd()) > 0 || len(ok.GetQueryParametersToSet()) > 0 {
			t.Errorf("ok_response %v, want only headers", ok)
		}
	}
}

// expectDenied checks a denial with UNAVAILABLE carrying details, and a 503 answer.
func expectDenied(details, retryAfter, contentType string, bodyHas ...string) func(*testing.T, *authv3.CheckResponse) {
	return func(t *testing.T, r *authv3.CheckResponse) {
		t.Helper()
		if r.GetStatus().GetCode() != int32(codes.Unavailable) || r.GetStatus().GetMessage() != details {
			t.Errorf("status %v, want UNAVAILABLE %q", r.GetStatus(), details)
		}
		dr := r.GetDeniedResponse()
		if dr == nil {
			t.Fatalf("http_response is %T, want denied_response", r.GetHttpResponse())
		}
		if dr.GetStatus().GetCode() != 503 {
			t.Errorf("HTTP status %d, want 503", dr.GetStatus().GetCode())
		}
		want := map[string]string{"retry-after": retryAfter, "cache-control": "no-store", "content-type": contentType}
		if diff := cmp.Diff(want, optionsMap(t, dr.GetHeaders())); diff != "" {
			t.Errorf("headers (-want +got):\n%s", diff)
		}
		for _, s := range bodyHas {
			if !strings.Contains(dr.GetBody(), s) {
				t.Errorf("body does not contain %q:\n%s", s, dr.GetBody())
			}
		}
	}
}

// optionsMap flattens header options, checking each is an overwrite carried in value (the
// field Envoy's ext_authz client reads). No options gives nil.
func optionsMap(t *testing.T, opts []*corev3.HeaderValueOption) map[string]string {
	t.Helper()
	var out map[string]string
	for _, o := range opts {
		//lint:ignore SA1019 Envoy versions before append_action read the deprecated append flag: it must stay unset.
		appendSet := o.GetAppend() != nil
		if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD || appendSet ||
			len(o.GetHeader().GetRawValue()) > 0 {
			t.Errorf("header option %v: want OVERWRITE_IF_EXISTS_OR_ADD with value only", o)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	return out
}
