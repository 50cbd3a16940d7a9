package envoy

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the generated bootstraps (local/envoy.yaml, ext_authz/envoy.yaml) from their templates")

// TestLocalGolden keeps every generated bootstrap equal to its template rendered with the
// defaults. (`make envoy-config` runs it with -update.)
func TestLocalGolden(t *testing.T) {
	tests := []struct {
		path   string
		render func(*bytes.Buffer) error
	}{
		{"local/envoy.yaml", func(b *bytes.Buffer) error { return RenderLocal(b, DefaultLocal()) }},
		{"ext_authz/envoy.yaml", func(b *bytes.Buffer) error { return RenderExtAuthz(b, DefaultExtAuthz()) }},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(tt.path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(buf.String(), string(got)); diff != "" {
				t.Errorf("%s is out of date with its template; run `make envoy-config` (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestRenderLocalOptions(t *testing.T) {
	const grpcTimeout = "envoy_grpc: {cluster_name: wakegate}\n                timeout:"
	tests := []struct {
		name    string
		edit    func(*Local)
		want    []string // substrings of the output
		notWant []string
	}{
		{"defaults", func(*Local) {}, []string{"port_value: 10000", "message_timeout: 65s", "failure_mode_allow: true", "timeout: 15s"},
			[]string{"max_message_timeout: ", "name: direct", grpcTimeout}},
		{"fail closed", func(l *Local) { l.FailureModeAllow = false }, []string{"failure_mode_allow: false", "Fail-closed"}, nil},
		{"override", func(l *Local) { l.MessageTimeout, l.MaxMessageTimeout = 200*time.Millisecond, 90*time.Second },
			[]string{"message_timeout: 0.2s", "max_message_timeout: 90s"}, nil},
		{"direct", func(l *Local) { l.Direct, l.DirectPort = true, 0 }, []string{"name: direct", "port_value: 0"}, nil},
		{"grpc timeout", func(l *Local) { l.GRPCTimeout = time.Second }, []string{grpcTimeout + " 1s"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := DefaultLocal()
			tt.edit(&l)
			var buf bytes.Buffer
			if err := RenderLocal(&buf, l); err != nil {
				t.Fatal(err)
			}
			checkOutput(t, buf.String(), tt.want, tt.notWant)
		})
	}
}

func TestLocalValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Local)
		want string // substring of the error; "" for none
	}{
		{"ok", func(*Local) {}, ""},
		{"port range", func(l *Local) { l.ListenPort = 70000 }, "ListenPort 70000"},
		{"app port zero", func(l *Local) { l.AppPort = 0 }, "AppPort and WakegatePort"},
		{"bad host", func(l *Local) { l.WakegateHost = "a b" }, `WakegateHost "a b"`},
		{"negative", func(l *Local) { l.RouteTimeout = -1 }, "negative"},
		{"max below", func(l *Local) { l.MaxMessageTimeout = time.Second }, "MaxMessageTimeout 1s is below MessageTimeout 1m5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := DefaultLocal()
			tt.edit(&l)
			err := l.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 65 * time.Second: "65s", 250 * time.Millisecond: "0.25s", time.Minute + time.Millisecond: "60.001s"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// checkOutput reports the wanted strings out lacks and the unwanted ones it has.
func checkOutput(t *testing.T, out string, want, notWant []string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	for _, s := range notWant {
		if strings.Contains(out, s) {
			t.Errorf("output has %q", s)
		}
	}
}
