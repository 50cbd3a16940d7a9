package integration

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// TestEnvoyConfigsValidate runs `envoy --mode validate` on every YAML file under envoy/
// that is a bootstrap, and on the local template rendered with each option.
func TestEnvoyConfigsValidate(t *testing.T) {
	t.Parallel()
	bin := harness.EnvoyBin(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(filepath.Join(root, "envoy"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") && isBootstrap(t, path) {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no Envoy bootstraps under envoy/ (%v)", err)
	}
	variants := map[string]func(*envoy.Local){
		"fail-closed":      func(l *envoy.Local) { l.FailureModeAllow = false },
		"override":         func(l *envoy.Local) { l.MessageTimeout, l.MaxMessageTimeout = 200*time.Millisecond, 90*time.Second },
		"direct":           func(l *envoy.Local) { l.Direct, l.DirectPort = true, 10001 },
		"response-headers": func(l *envoy.Local) { l.SendResponseHeaders = true },
		"grpc-timeout":     func(l *envoy.Local) { l.GRPCTimeout = time.Minute },
	}
	dir := t.TempDir()
	for name, edit := range variants {
		l := envoy.DefaultLocal()
		edit(&l)
		var b strings.Builder
		if err := envoy.RenderLocal(&b, l); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	for _, f := range files {
		if err := harness.ValidateEnvoyConfig(t.Context(), bin, f); err != nil {
			t.Error(err)
		}
	}
}

// isBootstrap tells Envoy bootstraps from other YAML (Kubernetes manifests) by their
// top-level static_resources key.
func isBootstrap(t *testing.T, path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), "\nstatic_resources:")
}

// TestBadConfigExitsTwo: wakegate refuses a bad config or flag with exit status 2 and a
// message naming the culprit.
func TestBadConfigExitsTwo(t *testing.T) {
	t.Parallel()
	bins := binaries(t)
	dir := t.TempDir()
	bad := harness.LocalConfig{Targets: []harness.LocalTarget{{Name: "app", Match: harness.Match{Hosts: []string{"a.test"}},
		Process: harness.ProcessSpec{Command: []string{"true"}}, Readiness: harness.ReadinessCheck{TCP: "127.0.0.1:1"},
		HoldTimeout: "soon"}}}
	cfg := filepath.Join(dir, "bad.yaml")
	if err := bad.WriteFile(cfg); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"bad duration", harness.WakegateArgs(cfg, filepath.Join(dir, "ports")), "soon"},
		{"missing file", harness.WakegateArgs(filepath.Join(dir, "absent.yaml"), filepath.Join(dir, "ports")), "absent.yaml"},
		{"bad flag", []string{"local", "--config", cfg, "--max-held", "0"}, "--max-held"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), bins.Wakegate, tt.args...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output does not name %q:\n%s", tt.want, out)
			}
		})
	}
}
