package filter

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

// ContextExtensionTarget is the ext_authz context extension (set per route or virtual host
// in the filter's per-route config, check_settings.context_extensions) that names the
// target directly, overriding host/path matching.
const ContextExtensionTarget = "wakegate-target"

// headerMap is route.Headers over ext_authz's headers map. Envoy lower-cases the names
// (the proto requires it) and joins repeated headers with commas; Get looks names up as
// given, which route passes in lower case. It is read-only and safe for concurrent reads.
type headerMap map[string]string

var _ route.Headers = headerMap(nil)

// Get returns the value of the header called name.
func (h headerMap) Get(name string) (string, bool) {
	v, ok := h[name]
	return v, ok
}

// requestFromCheck builds the gate's view of a CheckRequest. Headers come from header_map
// when Envoy sends it (encode_raw_headers), else from the headers map; authority and path
// from the request's host and path fields, falling back to the headers. The returned
// Request keeps references to the message's headers.
func requestFromCheck(cr *authv3.CheckRequest) gate.Request {
	attrs := cr.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	var req gate.Request
	if raw := h.GetHeaderMap(); len(raw.GetHeaders()) > 0 {
		req = requestFromHeaders(raw)
	} else {
		req = requestFromHeaderMap(h.GetHeaders())
	}
	if host := h.GetHost(); host != "" {
		req.Authority = host
	}
	if path := h.GetPath(); path != "" {
		req.Path = path
	}
	req.Target = attrs.GetContextExtensions()[ContextExtensionTarget]
	return req
}

// requestFromHeaderMap reads authority (:authority, else host), path (:path) and whether
// the client is a browser (Accept prefers HTML) from a headers map.
func requestFromHeaderMap(m map[string]string) gate.Request {
	authority, ok := m[":authority"]
	if !ok {
		authority = m["host"]
	}
	return gate.Request{
		Request: route.Request{Authority: authority, Path: m[":path"], Headers: headerMap(m)},
		Browser: prefersHTML(m["accept"]),
	}
}

// checkResponse is the answer for d. d must not be Canceled (there is no one to answer).
func checkResponse(d gate.Decision) *authv3.CheckResponse {
	switch d.Outcome {
	case gate.Pass, gate.Ready:
		return allowed(nil)
	case gate.Released:
		return allowed(headerOptions(releasedHeaders(d)))
	}
	return denied(rejection(d))
}

// allowed lets the request go on upstream with headers set on it.
func allowed(headers []*corev3.HeaderValueOption) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: headers}},
	}
}

// denied makes Envoy answer the client with a. Any non-OK status denies; UNAVAILABLE says
// why, and its message carries a.Details for Envoy's trace and debug logs.
func denied(a answer) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.Unavailable), Message: a.Details},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(a.Status)},
			Headers: headerOptions(a.Headers),
			Body:    string(a.Body),
		}},
	}
}

// headerOptions sets (overwrites) each header. Unlike ext_proc, Envoy's ext_authz client
// reads only the value field (not raw_value); it honours append_action, and versions that
// predate it overwrite when the deprecated append flag is unset — the same result.
func headerOptions(hs [][2]string) []*corev3.HeaderValueOption {
	out := make([]*corev3.HeaderValueOption, 0, len(hs))
	for _, h := range hs {
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: h[0], Value: h[1]},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return out
}
