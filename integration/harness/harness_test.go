package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakegate/wakegate/internal/config"
	"github.com/wakegate/wakegate/internal/gate"
)

func TestPoll(t *testing.T) {
	errNotYet := errors.New("not yet")
	tests := []struct {
		name    string
		results []bool // what cond returns, in turn; the last repeats
		detail  error  // cond's detail while not done
		want    string // error substring; "" for nil
	}{
		{"done at once", []bool{true}, nil, ""},
		{"done later", []bool{false, false, true}, errNotYet, ""},
		{"never", []bool{false}, errNotYet, "not yet"},
		{"give up", []bool{false}, GiveUp(errors.New("exited")), "exited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			calls := 0
			err := Poll(ctx, func() (bool, error) {
				r := tt.results[min(calls, len(tt.results)-1)]
				calls++
				return r, tt.detail
			})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Poll: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Poll = %v, want error containing %q", err, tt.want)
			}
			if tt.name == "give up" && calls != 1 {
				t.Errorf("cond called %d times after GiveUp, want 1", calls)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics([]byte(`# TYPE wakegate_requests_total counter
wakegate_requests_total{target="a",outcome="ready"} 3
wakegate_requests_total{target="a",outcome="released"} 2
wakegate_requests_total{target="b",outcome="ready"} 5
# TYPE wakegate_held_requests gauge
wakegate_held_requests{target="a"} 1
# TYPE wakegate_hold_duration_seconds histogram
wakegate_hold_duration_seconds_bucket{target="a",le="+Inf"} 4
wakegate_hold_duration_seconds_sum{target="a"} 1.5
wakegate_hold_duration_seconds_count{target="a"} 4
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wakegate_requests_total", nil, 10},
		{"wakegate_requests_total", []string{"target", "a"}, 5},
		{"wakegate_requests_total", []string{"target", "a", "outcome", "released"}, 2},
		{"wakegate_requests_total", []string{"target", "c"}, 0},
		{"wakegate_held_requests", []string{"target", "a"}, 1},
		{"wakegate_hold_duration_seconds", nil, 4},
		{"absent", nil, 0},
	}
	for _, tt := range tests {
		if got := m.Value(tt.name, tt.labels...); got != tt.want {
			t.Errorf("Value(%s, %v) = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if _, err := ParseMetrics([]byte("not metrics {")); err == nil {
		t.Error("ParseMetrics accepted garbage")
	}
}

func TestProcessStop(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		wantErr string // "" for a clean stop
	}{
		{"exits on SIGTERM", `echo hello; exec sleep 30`, "signal: terminated"},
		{"clean exit on SIGTERM", `trap 'exit 0' TERM; echo hello; while :; do sleep 0.01; done`, ""},
		{"ignores SIGTERM", `trap '' TERM; echo hello; while :; do sleep 0.01; done`, "killed"},
		{"leaves a child", `sleep 30 & trap 'exit 0' TERM; echo hello; while :; do sleep 0.01; done`, "left processes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := StartProcess(ProcessOptions{Name: "sh", Path: "/bin/sh", Args: []string{"-c", tt.script}, LogPath: filepath.Join(dir, "sh.log")})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := Poll(ctx, func() (bool, error) { return p.CountLines("hello") == 1, nil }); err != nil {
				t.Fatalf("no output: %v", err)
			}
			err = p.Stop(300 * time.Millisecond)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Stop: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Stop = %v, want error containing %q", err, tt.wantErr)
			}
			select {
			case <-p.Done():
			default:
				t.Fatal("Done not closed after Stop")
			}
		})
	}
}

func TestStartProcessErrors(t *testing.T) {
	if _, err := StartProcess(ProcessOptions{Name: "x", Path: "/bin/true"}); err == nil || !strings.Contains(err.Error(), "LogPath") {
		t.Errorf("without LogPath: %v", err)
	}
	log := filepath.Join(t.TempDir(), "x.log")
	if _, err := StartProcess(ProcessOptions{Name: "x", Path: "/nonexistent/binary", LogPath: log}); err == nil || !strings.Contains(err.Error(), "/nonexistent/binary") {
		t.Errorf("missing binary: %v", err)
	}
}

func TestTail(t *testing.T) {
	if got := tail("a\nb\nc\n", 2); got != "... (1 lines before)\nb\nc" {
		t.Errorf("tail = %q", got)
	}
	if got := tail("a\n", 5); got != "a" {
		t.Errorf("tail = %q", got)
	}
}

func TestFindEnvoyFromEnv(t *testing.T) {
	t.Setenv("ENVOY_BIN", filepath.Join(t.TempDir(), "absent"))
	if _, err := FindEnvoy(); err == nil || !strings.Contains(err.Error(), "ENVOY_BIN") {
		t.Errorf("FindEnvoy with a missing ENVOY_BIN: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "envoy")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENVOY_BIN", bin)
	if got, err := FindEnvoy(); err != nil || got != bin {
		t.Errorf("FindEnvoy = %q, %v; want %q", got, err, bin)
	}
}

func TestLocalConfigWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	c := LocalConfig{Targets: []LocalTarget{{Name: "app", Match: Match{Hosts: []string{"a.test"}},
		Process: ProcessSpec{Command: []string{"x"}}, Readiness: ReadinessCheck{TCP: "127.0.0.1:1"}, HoldTimeout: "1s"}}}
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"holdTimeout": "1s"`, `"tcp": "127.0.0.1:1"`, `"hosts": [`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "idleTimeout") {
		t.Errorf("unset fields are written:\n%s", b)
	}
}

// TestLocalConfigMatchesLoader keeps LocalConfig in step with wakegate's own loader: every
// field the harness can write is accepted and means the same thing.
func TestLocalConfigMatchesLoader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	c := LocalConfig{Targets: []LocalTarget{{
		Name:        "app",
		Match:       Match{Hosts: []string{"a.test"}, PathPrefixes: []string{"/x"}, Headers: map[string]string{"x-k": "v"}},
		Process:     ProcessSpec{Command: []string{"/bin/app", "--flag"}, Dir: "/tmp", Env: map[string]string{"K": "V"}},
		Readiness:   ReadinessCheck{HTTP: "http://127.0.0.1:1/healthz", Interval: "20ms"},
		IdleTimeout: "1s", HoldTimeout: "2s", WaitingPage: "immediate", StopGracePeriod: "3s", MaxHeld: 7,
	}}}
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := config.LoadLocal(path)
	if err != nil {
		t.Fatalf("wakegate's loader rejects the harness's config: %v", err)
	}
	want := config.LocalTarget{
		Name:        "app",
		Match:       config.Match{Hosts: []string{"a.test"}, PathPrefixes: []string{"/x"}, Headers: map[string]string{"x-k": "v"}},
		Process:     config.Process{Command: []string{"/bin/app", "--flag"}, Dir: "/tmp", Env: map[string]string{"K": "V"}},
		Readiness:   config.Readiness{HTTP: "http://127.0.0.1:1/healthz", Interval: 20 * time.Millisecond},
		IdleTimeout: time.Second, HoldTimeout: 2 * time.Second, WaitingPage: gate.PageImmediate, StopGracePeriod: 3 * time.Second, MaxHeld: 7,
	}
	if diff := cmp.Diff([]config.LocalTarget{want}, got.Targets); diff != "" {
		t.Errorf("loaded config differs (-want +got):\n%s", diff)
	}
}
