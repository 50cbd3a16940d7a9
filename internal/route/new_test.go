package route

import (
	"strings"
	"testing"
)

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  []string // substrings the error must contain; none means no error
	}{
		{
			name:  "empty target",
			rules: []Rule{{Hosts: []string{"a.com"}}},
			want:  []string{`target "": target name is empty`},
		},
		{
			name:  "no hosts",
			rules: []Rule{{Target: "t"}},
			want:  []string{`target "t": hosts: at least one host is required`},
		},
		{
			name:  "bad host",
			rules: []Rule{{Target: "t", Hosts: []string{"a.com", "a b.com"}}},
			want:  []string{`target "t": hosts: host "a b.com": invalid character ' '`},
		},
		{
			name:  "prefix without slash",
			rules: []Rule{{Target: "t", Hosts: []string{"a.com"}, PathPrefixes: []string{"/ok", "api"}}},
			want:  []string{`target "t": pathPrefixes: "api" must start with "/"`},
		},
		{
			name:  "empty prefix",
			rules: []Rule{{Target: "t", Hosts: []string{"a.com"}, PathPrefixes: []string{""}}},
			want:  []string{`pathPrefixes: "" must start with "/"`},
		},
		{
			name:  "bad header names",
			rules: []Rule{{Target: "t", Hosts: []string{"a.com"}, Headers: map[string]string{"x y": "1", "": "2", ":": "3", "a:b": "4"}}},
			want:  []string{`invalid header name "x y"`, `invalid header name ""`, `invalid header name ":"`, `invalid header name "a:b"`},
		},
		{
			name:  "header named twice in different case",
			rules: []Rule{{Target: "t", Hosts: []string{"a.com"}, Headers: map[string]string{"X-Env": "1", "x-env": "2"}}},
			want:  []string{`target "t": headers: "X-Env" and "x-env" are the same header`},
		},
		{
			name: "duplicate host and prefix",
			rules: []Rule{
				{Target: "first", Hosts: []string{"a.com"}},
				{Target: "second", Hosts: []string{"A.COM"}, PathPrefixes: []string{"/"}},
			},
			want: []string{`target "second": host "a.com" path prefix "/" is already claimed by target "first"`},
		},
		{
			name: "duplicate wildcard with port",
			rules: []Rule{
				{Target: "first", Hosts: []string{"*.a.com:80"}, PathPrefixes: []string{"/x"}},
				{Target: "second", Hosts: []string{"*.a.com:80"}, PathPrefixes: []string{"/x"}},
			},
			want: []string{`target "second": host "*.a.com:80" path prefix "/x" is already claimed by target "first"`},
		},
		{
			name: "every problem reported",
			rules: []Rule{
				{Target: "one", Hosts: []string{"*"}},
				{Target: "two", Hosts: []string{"b.com"}, PathPrefixes: []string{"x"}},
			},
			want: []string{`target "one": hosts: host "*"`, `target "two": pathPrefixes: "x"`},
		},
		{
			name: "same host and prefix with different headers",
			rules: []Rule{
				{Target: "plain", Hosts: []string{"a.com"}},
				{Target: "canary", Hosts: []string{"a.com"}, Headers: map[string]string{"x-canary": "1"}},
			},
		},
		{
			name: "header values containing separators are distinct",
			rules: []Rule{
				{Target: "one", Hosts: []string{"a.com"}, Headers: map[string]string{"a": "1;b=2"}},
				{Target: "two", Hosts: []string{"a.com"}, Headers: map[string]string{"a": "1", "b": "2"}},
			},
		},
		{
			name:  "pseudo header",
			rules: []Rule{{Target: "t", Hosts: []string{"a.com"}, Headers: map[string]string{":method": "GET"}}},
		},
		{
			name:  "no rules",
			rules: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := New(tt.rules)
			if len(tt.want) == 0 {
				if err != nil || table == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want an error containing %q", tt.want)
			}
			if table != nil {
				t.Errorf("New returned a table with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateHost(t *testing.T) {
	valid := []string{
		"a.com", "A.COM", "localhost", "localhost:10000", "x:1", "x:65535", "x:080",
		"*.example.com", "*.example.com:8080", "*.a", "under_score.local", "1.2.3.4", "1.2.3.4:80",
		"[::1]", "[::1]:8080", "[2001:DB8::1]", "[::ffff:1.2.3.4]",
	}
	for _, h := range valid {
		if err := ValidateHost(h); err != nil {
			t.Errorf("ValidateHost(%q) = %v, want nil", h, err)
		}
	}
	invalid := []struct{ host, want string }{
		{"", "empty host"},
		{":8080", "empty host name"},
		{"a.com:", "invalid port"},
		{"a.com:0", "invalid port"},
		{"a.com:65536", "invalid port"},
		{"a.com:123456", "invalid port"},
		{"a.com:8o", "invalid port"},
		{"a.com:+80", "invalid port"},
		{"a.com:80:90", "invalid port"},
		{"::1", "invalid port"},
		{"*", "wildcard"},
		{"*.", "wildcard"},
		{"*a.com", "wildcard"},
		{"*.*.com", "invalid character '*'"},
		{"a.*.com", "invalid character '*'"},
		{"a..com", "malformed domain"},
		{".a.com", "malformed domain"},
		{"a.com.", "malformed domain"},
		{"a b.com", "invalid character ' '"},
		{"ä.com", "invalid character 'ä'"},
		{"a/b", "invalid character '/'"},
		{"[::1", "unterminated IPv6 literal"},
		{"[]", "invalid IPv6 literal"},
		{"[zzz]", "invalid IPv6 literal"},
		{"[1.2.3.4]", "invalid IPv6 literal"},
		{"[fe80::1%eth0]", "invalid IPv6 literal"},
		{"[::1]80", "after the IPv6 literal"},
		{"[::1]]", "after the IPv6 literal"},
		{"[::1]:", "invalid port"},
		{"[::1]:x", "invalid port"},
	}
	for _, tt := range invalid {
		err := ValidateHost(tt.host)
		if err == nil {
			t.Errorf("ValidateHost(%q) = nil, want an error containing %q", tt.host, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateHost(%q) = %q, want it to contain %q", tt.host, err, tt.want)
		}
		if tt.host != "" && !strings.Contains(err.Error(), "host ") {
			t.Errorf("ValidateHost(%q) = %q: error does not name the host", tt.host, err)
		}
	}
}
