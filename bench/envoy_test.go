package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// TestRenderEnvoy renders the bootstrap and, when Envoy is installed (always in CI), has
// Envoy validate it.
func TestRenderEnvoy(t *testing.T) {
	cfg := newEnvoyConfig(18080, 9001, 90*time.Second)
	yaml, err := renderEnvoy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"- name: direct", "- name: extproc", "- name: extauthz",
		"envoy.filters.http.ext_proc", "envoy.filters.http.ext_authz", "transport_api_version: V3",
		"message_timeout: 100s", "timeout: 100s", "stream_idle_timeout: 150s",
		"port_value: 18080", "port_value: 9001", "max_requests: 100000",
	} {
		if !strings.Contains(yaml, want) {
			t.Errorf("bootstrap lacks %q", want)
		}
	}
	if got := strings.Count(yaml, "failure_mode_allow: false"); got != 2 {
		t.Errorf("failure_mode_allow: false appears %d times, want 2 (both filters fail closed)", got)
	}
	if got := strings.Count(yaml, "envoy.filters.http.router"); got != 3 {
		t.Errorf("router appears %d times, want 3 (one per listener)", got)
	}

	bin, err := harness.FindEnvoy()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("not validating with Envoy: %v", err)
	}
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := harness.ValidateEnvoyConfig(t.Context(), bin, path); err != nil {
		t.Fatal(err)
	}
}

func TestEnvoyConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*envoyConfig)
		want string // substring of the error; "" for none
	}{
		{"valid", func(*envoyConfig) {}, ""},
		{"no app port", func(c *envoyConfig) { c.AppPort = 0 }, "AppPort 0"},
		{"wakegate port too big", func(c *envoyConfig) { c.WakegatePort = 70000 }, "WakegatePort 70000"},
		{"idle timeout below hold", func(c *envoyConfig) { c.StreamIdleTimeout = c.HoldBudget }, "StreamIdleTimeout"},
		{"no hold budget", func(c *envoyConfig) { c.HoldBudget = 0 }, "HoldBudget"},
		{"no connections", func(c *envoyConfig) { c.AppConnections = 0 }, "AppConnections 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newEnvoyConfig(18080, 9001, time.Minute)
			tt.edit(&c)
			_, err := renderEnvoy(c)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
