package filter

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

func TestRequestFromHeaders(t *testing.T) {
	tests := []struct {
		name              string
		headers           *corev3.HeaderMap
		authority, path   string
		browser           bool
		getName, getValue string
		getOK             bool
	}{
		{name: "pseudo headers", headers: hdrs(":authority", "a.example.com", ":path", "/p", "host", "other"),
			authority: "a.example.com", path: "/p", getName: "host", getValue: "other", getOK: true},
		{name: "host fallback", headers: hdrs("host", "h.example.com:8080", ":path", "/"),
			authority: "h.example.com:8080", path: "/"},
		{name: "first pseudo header wins", headers: hdrs(":authority", "one", ":authority", "two", ":path", "/1", ":path", "/2"),
			authority: "one", path: "/1"},
		{name: "empty authority is kept over host", headers: hdrs(":authority", "", "host", "h"), authority: ""},
		{name: "browser", headers: hdrs(":authority", "a", "accept", chromeAccept), authority: "a", browser: true},
		{name: "no accept is not a browser", headers: hdrs(":authority", "a"), authority: "a"},
		{name: "nil map", headers: nil, getName: "x", getOK: false},
		{name: "value field", headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":authority", Value: "v.example.com"}, {Key: "x-a", Value: "1"}}},
			authority: "v.example.com", getName: "x-a", getValue: "1", getOK: true},
		{name: "raw_value preferred over value", headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "x-a", Value: "old", RawValue: []byte("new")}}},
			getName: "x-a", getValue: "new", getOK: true},
		{name: "mixed-case name from a non-Envoy client", headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "X-Env", RawValue: []byte("blue")}, {Key: "Host", RawValue: []byte("h")}}},
			authority: "h", getName: "x-env", getValue: "blue", getOK: true},
		{name: "present but empty", headers: hdrs("x-e", ""), getName: "x-e", getValue: "", getOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := requestFromHeaders(tc.headers)
			if req.Authority != tc.authority || req.Path != tc.path || req.Browser != tc.browser {
				t.Errorf("got authority %q path %q browser %v, want %q %q %v", req.Authority, req.Path, req.Browser, tc.authority, tc.path, tc.browser)
			}
			if tc.getName == "" {
				return
			}
			v, ok := req.Headers.Get(tc.getName)
			if v != tc.getValue || ok != tc.getOK {
				t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.getName, v, ok, tc.getValue, tc.getOK)
			}
		})
	}
}

// FuzzRequestFromHeaders feeds arbitrary header lists ("name:value" lines; odd lines use
// the value field, even lines raw_value) and checks the conversion against a plain model.
func FuzzRequestFromHeaders(f *testing.F) {
	f.Add(":authority:a.example.com\n:path:/x\naccept:text/html")
	f.Add("host:h\n:path:/\n:authority:z")
	f.Add("Host:H\nACCEPT:*/*\n:path")
	f.Fuzz(func(t *testing.T, in string) {
		m := &corev3.HeaderMap{}
		var keys, values []string
		for i, line := range strings.Split(in, "\n") {
			k, v, _ := strings.Cut(line[min(1, len(line)):], ":") // keep a leading ':' in the name
			k = line[:min(1, len(line))] + k
			hv := &corev3.HeaderValue{Key: k}
			if i%2 == 1 {
				hv.Value = v
			} else {
				hv.RawValue = []byte(v)
			}
			m.Headers = append(m.Headers, hv)
			keys, values = append(keys, k), append(values, v)
		}
		req := requestFromHeaders(m)
		first := func(match func(string) bool) (string, bool) {
			for i, k := range keys {
				if match(k) {
					return values[i], true
				}
			}
			return "", false
		}
		wantAuth, ok := first(func(k string) bool { return k == ":authority" })
		if !ok {
			wantAuth, _ = first(func(k string) bool { return strings.EqualFold(k, "host") })
		}
		wantPath, _ := first(func(k string) bool { return k == ":path" })
		if req.Authority != wantAuth || req.Path != wantPath {
			t.Errorf("authority %q path %q, want %q %q", req.Authority, req.Path, wantAuth, wantPath)
		}
		for _, k := range keys {
			want, _ := first(func(x string) bool { return strings.EqualFold(x, k) })
			if got, ok := req.Headers.Get(strings.ToLower(k)); !ok || got != want {
				t.Errorf("Get(%q) = %q, %v; want %q", strings.ToLower(k), got, ok, want)
			}
		}
	})
}
