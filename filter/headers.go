package filter

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

// MetadataNamespace and MetadataTargetKey name a string in Envoy's dynamic metadata that,
// when forwarded to ext_proc (metadata_options.forwarding_namespaces.untyped), names the
// target directly and skips routing — the ext_proc counterpart of ext_authz
// context_extensions. Without it (the usual case) the request is routed by host and path;
// other metadata and request attributes are ignored.
const (
	MetadataNamespace = "wakegate"
	MetadataTargetKey = "target"
)

// headerList is route.Headers over Envoy's header list, without building a map: Get scans
// the list (requests carry few headers, and routing asks for few). It reads the shared
// proto messages and never changes them; it is safe for concurrent reads.
type headerList []*corev3.HeaderValue

var _ route.Headers = headerList(nil)

// Get returns the first value of the header called name. Envoy sends names in lower case;
// others are compared case-insensitively too.
func (h headerList) Get(name string) (string, bool) {
	for _, hv := range h {
		if strings.EqualFold(hv.GetKey(), name) {
			return headerValue(hv), true
		}
	}
	return "", false
}

// headerValue reads a header's value: Envoy 1.40 sends raw_value bytes, older versions (or
// with envoy.reloadable_features.send_header_raw_value off) the UTF-8 value string.
func headerValue(hv *corev3.HeaderValue) string {
	if raw := hv.GetRawValue(); len(raw) > 0 {
		return string(raw)
	}
	return hv.GetValue()
}

// requestFromHeaders builds the gate's view of a request from its Envoy headers in one
// pass: authority (:authority, else host), path (:path), and whether the client is a
// browser (Accept prefers HTML). The first of repeated pseudo-headers wins; all Accept
// values count. The returned Request keeps a reference to the header list.
func requestFromHeaders(m *corev3.HeaderMap) gate.Request {
	list := headerList(m.GetHeaders())
	var authority, host, path string
	var haveAuthority, haveHost, havePath bool
	accept := newAcceptScan()
	for _, hv := range list {
		switch key := hv.GetKey(); {
		case key == ":authority" && !haveAuthority:
			authority, haveAuthority = headerValue(hv), true
		case key == ":path" && !havePath:
			path, havePath = headerValue(hv), true
		case strings.EqualFold(key, "host") && !haveHost:
			host, haveHost = headerValue(hv), true
		case strings.EqualFold(key, "accept"):
			accept.add(headerValue(hv))
		}
	}
	if !haveAuthority {
		authority = host
	}
	return gate.Request{
		Request: route.Request{Authority: authority, Path: path, Headers: list},
		Browser: accept.browser(),
	}
}

// metadataTarget returns the target named in md under MetadataNamespace, or "".
func metadataTarget(md *corev3.Metadata) string {
	ns := md.GetFilterMetadata()[MetadataNamespace]
	return ns.GetFields()[MetadataTargetKey].GetStringValue()
}
