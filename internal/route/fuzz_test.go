package route

import (
	"strings"
	"testing"
)

// fuzzRules is a small fixed table with every host form, overlapping prefixes and a header.
var fuzzRules = []Rule{
	{Target: "exact", Hosts: []string{"a.example.com"}},
	{Target: "exact-api", Hosts: []string{"a.example.com"}, PathPrefixes: []string{"/api", "/v1/"}},
	{Target: "exact-port", Hosts: []string{"a.example.com:8080"}, PathPrefixes: []string{"/p"}},
	{Target: "wild", Hosts: []string{"*.example.com"}, PathPrefixes: []string{"/w", "/api"}},
	{Target: "wild-deep", Hosts: []string{"*.b.example.com"}},
	{Target: "wild-port", Hosts: []string{"*.example.com:9090"}},
	{Target: "v6", Hosts: []string{"[::1]", "[::1]:8443"}},
	{Target: "canary", Hosts: []string{"a.example.com", "*.example.com"}, PathPrefixes: []string{"/api"}, Headers: map[string]string{"X-Canary": "yes"}},
	{Target: "local", Hosts: []string{"localhost", "127.0.0.1:80"}},
	{Target: "k", Hosts: []string{"k.example.net"}},
}

// refSplit is an independent statement of how an authority splits into name and port:
// "[v6]" and "[v6]:port"; "name" and "name:port"; anything with two or more colons outside
// brackets is an unbracketed IPv6 literal without a port.
func refSplit(a string) (name, port string, hasPort bool) {
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return a, "", false
		}
		if rest := a[end+1:]; strings.HasPrefix(rest, ":") {
			return a[:end+1], rest[1:], true
		}
		return a, "", false
	}
	if strings.Count(a, ":") == 1 {
		name, port, _ = strings.Cut(a, ":")
		return name, port, true
	}
	return a, "", false
}

func refLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// refHostCovers reports whether pattern covers authority, from the documented semantics.
func refHostCovers(pattern, authority string) bool {
	pattern, authority = refLower(pattern), refLower(authority)
	pName, pPort, pHasPort := refSplit(pattern)
	name, port, hasPort := refSplit(authority)
	if pHasPort && (!hasPort || port != pPort) {
		return false
	}
	if suffix, ok := strings.CutPrefix(pName, "*"); ok {
		return len(name) > len(suffix) && strings.HasSuffix(name, suffix)
	}
	return name == pName
}

// refCovers reports whether rule r covers req.
func refCovers(r Rule, req Request) bool {
	path := req.Path
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	prefixes := r.PathPrefixes
	if len(prefixes) == 0 {
		prefixes = []string{"/"}
	}
	hostOK, prefixOK := false, false
	for _, h := range r.Hosts {
		hostOK = hostOK || refHostCovers(h, req.Authority)
	}
	for _, p := range prefixes {
		prefixOK = prefixOK || strings.HasPrefix(path, p)
	}
	if !hostOK || !prefixOK {
		return false
	}
	for k, v := range r.Headers {
		if req.Headers == nil {
			return false
		}
		if got, ok := req.Headers.Get(strings.ToLower(k)); !ok || got != v {
			return false
		}
	}
	return true
}

func FuzzMatch(f *testing.F) {
	table, err := New(fuzzRules)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][3]string{
		{"a.example.com", "/", ""},
		{"A.EXAMPLE.COM:8080", "/p/x?q", ""},
		{"x.a.example.com", "/api/x", "yes"},
		{"x.b.example.com:9090", "/", ""},
		{"[::1]:8443", "/", ""},
		{"[::1]x:8443", "/", ""},
		{"[::1]:8443:1", "/", ""},
		{"\u212A.example.com", "/w#", ""},
		{"\u212A.EXAMPLE.NET", "/", ""}, // the Kelvin sign is not "k"
		{"LOCALHOST:1", "/?", ""},
		{"127.0.0.1:80", "/", ""},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	byTarget := map[string]Rule{}
	for _, r := range fuzzRules {
		byTarget[r.Target] = r
	}
	f.Fuzz(func(t *testing.T, authority, path, canary string) {
		req := Request{Authority: authority, Path: path, Headers: hdrs{"x-canary": canary}}
		got, ok := table.Match(req)
		if ok {
			if !refCovers(byTarget[got], req) {
				t.Fatalf("Match(%q, %q, canary=%q) = %q, but that rule does not cover the request", authority, path, canary, got)
			}
		} else {
			for _, r := range fuzzRules {
				if refCovers(r, req) {
					t.Fatalf("Match(%q, %q, canary=%q) found nothing, but %q covers the request", authority, path, canary, r.Target)
				}
			}
		}
		// Case of ASCII letters in the authority never changes the answer.
		if got2, ok2 := table.Match(Request{Authority: strings.ToUpper(refLower(authority)), Path: path, Headers: req.Headers}); isASCII(authority) && (got2 != got || ok2 != ok) {
			t.Fatalf("Match(%q) = %q, %v but upper-cased = %q, %v", authority, got, ok, got2, ok2)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzValidateHost checks that ValidateHost never panics and that every pattern it accepts
// compiles and is reachable by a request built from it.
func FuzzValidateHost(f *testing.F) {
	for _, s := range []string{"a.com", "A.com:80", "*.a.com", "*.a.com:443", "[::1]", "[::1]:80", "[]", ":80", "[::1]80", "a.com:99999", "*."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if err := ValidateHost(host); err != nil {
			if !strings.Contains(err.Error(), "host") {
				t.Fatalf("ValidateHost(%q) = %q: error does not mention the host", host, err)
			}
			return
		}
		table, err := New([]Rule{{Target: "t", Hosts: []string{host}}})
		if err != nil {
			t.Fatalf("ValidateHost(%q) accepted it, but New failed: %v", host, err)
		}
		authority := host
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			authority = "x." + rest
		}
		if got, ok := table.Match(Request{Authority: authority, Path: "/"}); !ok || got != "t" {
			t.Fatalf("ValidateHost(%q) accepted it, but a request for %q does not match", host, authority)
		}
		if !isASCII(host) || strings.ContainsAny(host, " \t\r\n/?#@") {
			t.Fatalf("ValidateHost(%q) accepted a host with a forbidden character", host)
		}
	})
}
