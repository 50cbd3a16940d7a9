package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/wakegate/wakegate/internal/gate"
)

// writeConfig writes data as wakegate.yaml in a new directory and returns its path.
func writeConfig(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wakegate.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// baseTarget is a minimal valid target as YAML would decode it.
func baseTarget() map[string]any {
	return map[string]any{
		"name":      "web",
		"match":     map[string]any{"hosts": []any{"localhost"}},
		"process":   map[string]any{"command": []any{"./bin/app", "--listen", "127.0.0.1:18080"}},
		"readiness": map[string]any{"http": "http://127.0.0.1:18080/healthz"},
	}
}

func marshalTargets(t *testing.T, targets ...map[string]any) string {
	t.Helper()
	list := make([]any, len(targets))
	for i, tg := range targets {
		list[i] = tg
	}
	out, err := yaml.Marshal(map[string]any{"targets": list})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestLoadLocalDefaults(t *testing.T) {
	path := writeConfig(t, marshalTargets(t, baseTarget()))
	dir := filepath.Dir(path)
	got, err := LoadLocal(path)
	if err != nil {
		t.Fatalf("LoadLocal: %v", err)
	}
	want := &Local{File: path, Targets: []LocalTarget{{
		Name:  "web",
		Match: Match{Hosts: []string{"localhost"}, PathPrefixes: []string{"/"}},
		Process: Process{
			Command: []string{filepath.Join(dir, "bin/app"), "--listen", "127.0.0.1:18080"},
			Dir:     dir,
		},
		Readiness:       Readiness{HTTP: "http://127.0.0.1:18080/healthz", Interval: 100 * time.Millisecond},
		IdleTimeout:     5 * time.Minute,
		HoldTimeout:     60 * time.Second,
		WaitingPage:     gate.PageOnTimeout,
		StopGracePeriod: 10 * time.Second,
		MaxHeld:         1000,
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadLocal (-want +got):\n%s", diff)
	}
}

func TestLoadLocalAllFields(t *testing.T) {
	data := `
targets:
  - name: web-1
    match:
      hosts: ["localhost", "*.web.localhost"]
      pathPrefixes: ["/app", "/api"]
      headers: {x-tenant: demo, ":method": GET}
    process:
      command: ["sample-app", "--name", "x"]
      dir: sub
      env: {GREETING: hello, PORT: 8080, DEBUG: yes, QUOTED: "yes"}
    readiness:
      tcp: "127.0.0.1:18080"
      interval: 250ms
    idleTimeout: 30s
    holdTimeout: 2m
    waitingPage: immediate
    stopGracePeriod: 0s
    maxHeld: 7
`
	path := writeConfig(t, data)
	dir := filepath.Join(filepath.Dir(path), "sub")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := LoadLocal(path)
	if err != nil {
		t.Fatalf("LoadLocal: %v", err)
	}
	want := []LocalTarget{{
		Name: "web-1",
		Match: Match{Hosts: []string{"localhost", "*.web.localhost"}, PathPrefixes: []string{"/app", "/api"},
			Headers: map[string]string{"x-tenant": "demo", ":method": "GET"}},
		Process: Process{Command: []string{"sample-app", "--name", "x"}, Dir: dir, // no slash: left to PATH
			// YAML 1.1 reads an unquoted yes as a boolean; the string field gets its JSON form.
			Env: map[string]string{"GREETING": "hello", "PORT": "8080", "DEBUG": "true", "QUOTED": "yes"}},
		Readiness:   Readiness{TCP: "127.0.0.1:18080", Interval: 250 * time.Millisecond},
		IdleTimeout: 30 * time.Second, HoldTimeout: 2 * time.Minute, WaitingPage: gate.PageImmediate,
		StopGracePeriod: 0, MaxHeld: 7,
	}}
	if diff := cmp.Diff(want, got.Targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestLoadLocalPaths(t *testing.T) {
	abs := t.TempDir()
	tests := []struct {
		name         string
		dir, command string
		wantDir      string // relative to the config's directory unless absolute
		wantCommand  string // likewise, when it contains a slash
	}{
		{name: "defaults to config dir", command: "./bin/app", wantDir: ".", wantCommand: "bin/app"},
		{name: "relative dir", dir: "sub", command: "./bin/app", wantDir: "sub", wantCommand: "sub/bin/app"},
		{name: "dot dot", dir: "sub/..", command: "../x/app", wantDir: ".", wantCommand: "../x/app"},
		{name: "absolute dir", dir: abs, command: "bin/app", wantDir: abs, wantCommand: filepath.Join(abs, "bin/app")},
		{name: "absolute command", dir: "sub", command: "/usr/bin/env", wantDir: "sub", wantCommand: "/usr/bin/env"},
		{name: "PATH command", dir: "sub", command: "env", wantDir: "sub", wantCommand: "env"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := baseTarget()
			tg["process"] = map[string]any{"command": []any{tc.command}, "dir": tc.dir}
			path := writeConfig(t, marshalTargets(t, tg))
			base := filepath.Dir(path)
			if err := os.Mkdir(filepath.Join(base, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			c, err := LoadLocal(path)
			if err != nil {
				t.Fatalf("LoadLocal: %v", err)
			}
			rel := func(p string) string {
				if filepath.IsAbs(p) {
					return p
				}
				return filepath.Join(base, p)
			}
			pr := c.Targets[0].Process
			if pr.Dir != rel(tc.wantDir) {
				t.Errorf("dir = %q, want %q", pr.Dir, rel(tc.wantDir))
			}
			wantCmd := tc.wantCommand
			if strings.Contains(wantCmd, "/") {
				wantCmd = rel(wantCmd)
			}
			if pr.Command[0] != wantCmd {
				t.Errorf("command[0] = %q, want %q", pr.Command[0], wantCmd)
			}
		})
	}
}

func TestLoadLocalMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := LoadLocal(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadLocal(absent) = %v, want a not-exist error naming the file", err)
	}
}

func TestFieldError(t *testing.T) {
	tests := []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "f.yaml", Field: "targets[0].name", Msg: "is required"}, "f.yaml: targets[0].name: is required"},
		{FieldError{Field: "targets", Msg: "m"}, "targets: m"},
		{FieldError{File: "f.yaml", Msg: "m"}, "f.yaml: m"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
