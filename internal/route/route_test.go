package route

import (
	"testing"
)

// hdrs is a Headers backed by a map whose keys are already lower case.
type hdrs map[string]string

func (h hdrs) Get(name string) (string, bool) {
	v, ok := h[name]
	return v, ok
}

var _ Headers = hdrs(nil)

// matchRules covers every host form and the precedence rules TestMatch checks.
var matchRules = []Rule{
	{Target: "app", Hosts: []string{"app.example.com"}},
	{Target: "app-api", Hosts: []string{"app.example.com"}, PathPrefixes: []string{"/api"}},
	{Target: "app-api-v2", Hosts: []string{"app.example.com"}, PathPrefixes: []string{"/api/v2"}},
	{Target: "canary", Hosts: []string{"app.example.com"}, PathPrefixes: []string{"/api"}, Headers: map[string]string{"X-Canary": "on"}},
	{Target: "narrow", Hosts: []string{"narrow.example.com"}, PathPrefixes: []string{"/only"}},
	{Target: "local", Hosts: []string{"localhost:10000"}},
	{Target: "local-any", Hosts: []string{"localhost"}, PathPrefixes: []string{"/any"}},
	{Target: "wild", Hosts: []string{"*.example.com"}},
	{Target: "deep-wild", Hosts: []string{"*.b.example.com"}},
	{Target: "wild-port", Hosts: []string{"*.example.org:8443"}},
	{Target: "v6", Hosts: []string{"[::1]:8080"}},
	{Target: "v6-any", Hosts: []string{"[2001:db8::1]"}},
	{Target: "upper", Hosts: []string{"MiXeD.Example.NET"}},
	{Target: "kelvin", Hosts: []string{"kelvin.example.net"}},
	{Target: "no-header", Hosts: []string{"h.example.net"}, PathPrefixes: []string{"/x"}},
	{Target: "two-headers", Hosts: []string{"h.example.net"}, PathPrefixes: []string{"/x"}, Headers: map[string]string{"a": "1", "B": "2"}},
	{Target: "one-header", Hosts: []string{"h.example.net"}, PathPrefixes: []string{"/x"}, Headers: map[string]string{"a": "1"}},
}

func TestMatch(t *testing.T) {
	table, err := New(matchRules)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		name, authority, path string
		headers               Headers
		want                  string // "" means no match
	}{
		{name: "exact host", authority: "app.example.com", path: "/", want: "app"},
		{name: "host is case-insensitive", authority: "APP.Example.COM", path: "/", want: "app"},
		{name: "configured host is case-insensitive", authority: "mixed.example.net", path: "/", want: "upper"},
		{name: "port ignored when rule has none", authority: "app.example.com:8080", path: "/", want: "app"},
		{name: "unknown host", authority: "nope.example.net", path: "/", want: ""},
		{name: "empty authority", authority: "", path: "/", want: ""},
		{name: "empty path matches no prefix", authority: "app.example.com", path: "", want: ""},
		{name: "longest prefix", authority: "app.example.com", path: "/api/users", want: "app-api"},
		{name: "longer prefix still", authority: "app.example.com", path: "/api/v2/users", want: "app-api-v2"},
		{name: "prefix is a plain string prefix", authority: "app.example.com", path: "/apix", want: "app-api"},
		{name: "default prefix is /", authority: "app.example.com", path: "/other", want: "app"},
		{name: "query ignored", authority: "app.example.com", path: "/api?x=/api/v2", want: "app-api"},
		{name: "query cut before prefix", authority: "app.example.com", path: "/ap?i", want: "app"},
		{name: "fragment ignored", authority: "app.example.com", path: "/api#/api/v2", want: "app-api"},
		{name: "header present", authority: "app.example.com", path: "/api/x", headers: hdrs{"x-canary": "on"}, want: "canary"},
		{name: "header different value", authority: "app.example.com", path: "/api/x", headers: hdrs{"x-canary": "ON"}, want: "app-api"},
		{name: "header absent", authority: "app.example.com", path: "/api/x", headers: hdrs{}, want: "app-api"},
		{name: "nil headers", authority: "app.example.com", path: "/api/x", want: "app-api"},
		{name: "header rule needs its prefix", authority: "app.example.com", path: "/", headers: hdrs{"x-canary": "on"}, want: "app"},
		{name: "longer prefix beats headers", authority: "app.example.com", path: "/api/v2", headers: hdrs{"x-canary": "on"}, want: "app-api-v2"},
		{name: "more headers win", authority: "h.example.net", path: "/x", headers: hdrs{"a": "1", "b": "2"}, want: "two-headers"},
		{name: "fewer headers next", authority: "h.example.net", path: "/x", headers: hdrs{"a": "1", "b": "3"}, want: "one-header"},
		{name: "no headers last", authority: "h.example.net", path: "/x", headers: hdrs{"b": "2"}, want: "no-header"},
		{name: "rule port must match", authority: "localhost:10000", path: "/", want: "local"},
		{name: "rule port other port", authority: "localhost:10001", path: "/", want: ""},
		{name: "rule port no port", authority: "localhost", path: "/", want: ""},
		{name: "host without port on any port", authority: "localhost:10001", path: "/any/x", want: "local-any"},
		{name: "host:port beats host with longer prefix", authority: "localhost:10000", path: "/any/x", want: "local"},
		{name: "wildcard one label", authority: "a.example.com", path: "/", want: "wild"},
		{name: "wildcard many labels", authority: "a.c.example.com", path: "/", want: "wild"},
		{name: "wildcard any port", authority: "a.example.com:9999", path: "/", want: "wild"},
		{name: "wildcard not the bare domain", authority: "example.com", path: "/", want: ""},
		{name: "wildcard not a dot alone", authority: ".example.com", path: "/", want: ""},
		{name: "wildcard not a lookalike", authority: "aexample.com", path: "/", want: ""},
		{name: "longest wildcard wins", authority: "x.a.b.example.com", path: "/", want: "deep-wild"},
		{name: "shorter wildcard for the longer one's domain", authority: "b.example.com", path: "/", want: "wild"},
		{name: "exact beats wildcard", authority: "app.example.com", path: "/x", want: "app"},
		{name: "exact without matching prefix falls to wildcard", authority: "narrow.example.com", path: "/other", want: "wild"},
		{name: "exact with matching prefix", authority: "narrow.example.com", path: "/only/x", want: "narrow"},
		{name: "wildcard with port", authority: "a.example.org:8443", path: "/", want: "wild-port"},
		{name: "wildcard with port, upper case", authority: "A.EXAMPLE.ORG:8443", path: "/", want: "wild-port"},
		{name: "wildcard with port, no port", authority: "a.example.org", path: "/", want: ""},
		{name: "wildcard with port, other port", authority: "a.example.org:8444", path: "/", want: ""},
		{name: "wildcard with port, bare domain", authority: "example.org:8443", path: "/", want: ""},
		{name: "IPv6 with port", authority: "[::1]:8080", path: "/", want: "v6"},
		{name: "IPv6 other port", authority: "[::1]:8081", path: "/", want: ""},
		{name: "IPv6 no port", authority: "[::1]", path: "/", want: ""},
		{name: "IPv6 rule without port", authority: "[2001:db8::1]:443", path: "/", want: "v6-any"},
		{name: "IPv6 upper case", authority: "[2001:DB8::1]", path: "/", want: "v6-any"},
		{name: "IPv6 unbracketed", authority: "2001:db8::1", path: "/", want: ""},
		{name: "IPv6 garbage after bracket", authority: "[::1]x:8080", path: "/", want: ""},
		{name: "IPv6 second port", authority: "[::1]:8080:1", path: "/", want: ""},
		{name: "non-ASCII letters are not folded", authority: "\u212AELVIN.EXAMPLE.NET", path: "/", want: ""},
		{name: "ASCII folding beside non-ASCII", authority: "KELVIN.EXAMPLE.NET", path: "/", want: "kelvin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := table.Match(Request{Authority: tt.authority, Path: tt.path, Headers: tt.headers})
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("Match(%q, %q) = %q, %v; want %q", tt.authority, tt.path, got, ok, tt.want)
			}
		})
	}
}

func TestMatchNilTable(t *testing.T) {
	var table *Table
	if got, ok := table.Match(Request{Authority: "a", Path: "/"}); ok || got != "" {
		t.Errorf("nil Table matched %q", got)
	}
}

func TestRouter(t *testing.T) {
	var r Router
	req := Request{Authority: "a.example.com", Path: "/"}
	if got, ok := r.Match(req); ok {
		t.Fatalf("zero Router matched %q", got)
	}
	for _, target := range []string{"one", "two"} {
		table, err := New([]Rule{{Target: target, Hosts: []string{"a.example.com"}}})
		if err != nil {
			t.Fatal(err)
		}
		r.Store(table)
		if got, ok := r.Match(req); !ok || got != target {
			t.Errorf("after Store(%s): Match = %q, %v", target, got, ok)
		}
	}
	r.Store(nil)
	if got, ok := r.Match(req); ok {
		t.Errorf("after Store(nil): matched %q", got)
	}
}

func TestLowerASCII(t *testing.T) {
	tests := map[string]string{
		"":                 "",
		"abc":              "abc",
		"ABC.def:80":       "abc.def:80",
		"\u212A":           "\u212A",
		"\u212AB":          "\u212Ab",
		"İA":               "İa",
		"already-lower-09": "already-lower-09",
	}
	for in, want := range tests {
		if got := lowerASCII(in); got != want {
			t.Errorf("lowerASCII(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripPort(t *testing.T) {
	tests := []struct {
		in, host string
		port     bool
	}{
		{"a.com", "a.com", false},
		{"a.com:80", "a.com", true},
		{"a.com:", "a.com", true},
		{"a:b:c", "a:b:c", false},
		{"::1", "::1", false},
		{"[::1]", "[::1]", false},
		{"[::1]:80", "[::1]", true},
		{"[::1]x", "[::1]x", false},
		{"[::1]x:80", "[::1]x:80", false},
		{"[::1", "[::1", false},
	}
	for _, tt := range tests {
		host, port := stripPort(tt.in)
		if host != tt.host || port != tt.port {
			t.Errorf("stripPort(%q) = %q, %v; want %q, %v", tt.in, host, port, tt.host, tt.port)
		}
	}
}
