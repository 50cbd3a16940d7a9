package envoy

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/filter"
)

func TestRenderExtAuthzOptions(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*ExtAuthz)
		want    []string // substrings of the output
		notWant []string
	}{
		{"defaults", func(*ExtAuthz) {},
			[]string{"port_value: 10000", "transport_api_version: V3", "timeout: 65s", "failure_mode_allow: true",
				"status_on_error: {code: 503}", `domains: ["named.localhost"]`, "envoy.filters.http.ext_authz",
				"{" + filter.ContextExtensionTarget + `: "web"}`},
			[]string{"with_request_body:", "allowed_headers:"}},
		{"fail closed, Envoy's status", func(a *ExtAuthz) { a.FailureModeAllow, a.StatusOnError = false, 0 },
			[]string{"failure_mode_allow: false", "Fail-closed", "unset (Envoy's default, 403)"}, []string{"status_on_error: {"}},
		{"no named routes", func(a *ExtAuthz) { a.Named = nil }, []string{`domains: ["*"]`}, []string{"typed_per_filter_config", "named-0"}},
		{"two named routes", func(a *ExtAuthz) {
			a.Named = []NamedRoute{{Domain: "a.test", Target: "a"}, {Domain: "*.b.test", Target: "b"}}
		}, []string{"name: named-0", `domains: ["a.test"]`, "name: named-1", `domains: ["*.b.test"]`, `wakegate-target: "b"}`}, nil},
		{"short timeout", func(a *ExtAuthz) { a.Timeout = 1500 * time.Millisecond }, []string{"timeout: 1.5s"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := DefaultExtAuthz()
			tt.edit(&a)
			var buf bytes.Buffer
			if err := RenderExtAuthz(&buf, a); err != nil {
				t.Fatal(err)
			}
			checkOutput(t, buf.String(), tt.want, tt.notWant)
		})
	}
}

func TestExtAuthzValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*ExtAuthz)
		want string // substring of the error; "" for none
	}{
		{"ok", func(*ExtAuthz) {}, ""},
		{"port range", func(a *ExtAuthz) { a.AdminPort = -1 }, "AdminPort -1 out of range"},
		{"wakegate port zero", func(a *ExtAuthz) { a.WakegatePort = 0 }, "AppPort and WakegatePort"},
		{"bad host", func(a *ExtAuthz) { a.AppHost = "" }, `AppHost ""`},
		{"no timeout", func(a *ExtAuthz) { a.Timeout = 0 }, "Timeout 0s must be positive"},
		{"negative route timeout", func(a *ExtAuthz) { a.RouteTimeout = -time.Second }, "must not be negative"},
		{"status", func(a *ExtAuthz) { a.StatusOnError = 42 }, "StatusOnError 42"},
		{"empty domain", func(a *ExtAuthz) { a.Named = []NamedRoute{{Target: "x"}} }, `Named[0].Domain ""`},
		{"catch-all domain", func(a *ExtAuthz) { a.Named = []NamedRoute{{Domain: "*", Target: "x"}} }, `Named[0].Domain "*"`},
		{"duplicate domain", func(a *ExtAuthz) {
			a.Named = []NamedRoute{{Domain: "a.test", Target: "x"}, {Domain: "a.test", Target: "y"}}
		}, `Named[1].Domain "a.test" is listed twice`},
		{"quote in target", func(a *ExtAuthz) { a.Named = []NamedRoute{{Domain: "a.test", Target: `x"y`}} }, `Named[0].Target "x\"y"`},
		{"space in domain", func(a *ExtAuthz) { a.Named = []NamedRoute{{Domain: "a test", Target: "x"}} }, `Named[0].Domain "a test"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := DefaultExtAuthz()
			tt.edit(&a)
			err := a.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want error containing %q", err, tt.want)
			}
			if tt.want != "" {
				if err := RenderExtAuthz(&bytes.Buffer{}, a); err == nil {
					t.Error("RenderExtAuthz accepted what Validate rejects")
				}
			}
		})
	}
}
