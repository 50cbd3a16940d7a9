package app

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMainDispatch: Main runs the named command; bad commands, flags and configuration are
// usage errors (exit code 2) that say what is wrong, and nothing is written to stderr.
func TestMainDispatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("targets:\n  - name: app\n    colour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	version := fmt.Sprintf("wakegate v1.2.3 (%s %s/%s)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, tt := range []struct {
		name       string
		args       []string
		wantOut    string   // exact stdout, for commands that succeed
		wantErr    []string // substrings of the usage error; nil for success
		wantUsage  bool     // the error carries the command list
		wantOutHas string   // a substring of stdout
	}{
		{name: "no command", args: nil, wantErr: []string{"no command given"}, wantUsage: true},
		{name: "unknown command", args: []string{"bogus"}, wantErr: []string{`unknown command "bogus"`}, wantUsage: true},
		{name: "version", args: []string{"version"}, wantOut: version},
		{name: "--version", args: []string{"--version"}, wantOut: version},
		{name: "-version", args: []string{"-version"}, wantOut: version},
		{name: "help", args: []string{"help"}, wantOutHas: "usage: wakegate <command>"},
		{name: "-h", args: []string{"-h"}, wantOutHas: "local     run against local processes"},
		{name: "serve -h", args: []string{"serve", "-h"}, wantErr: []string{"serve flags:", "-kubeconfig"}},
		{name: "local -h", args: []string{"local", "-h"}, wantErr: []string{"local flags:", "-config file", "-ports-file"}},
		{name: "local without --config", args: []string{"local"}, wantErr: []string{"--config is required"}},
		{name: "local bad flag and no config", args: []string{"local", "--max-held", "0"},
			wantErr: []string{"--max-held 0", "--config is required"}},
		{name: "local stray argument", args: []string{"local", "--config", missing, "now"}, wantErr: []string{`unexpected argument "now"`}},
		{name: "local missing config", args: []string{"local", "--config", missing}, wantErr: []string{missing}},
		{name: "local bad config", args: []string{"local", "--config", badConfig}, wantErr: []string{badConfig, "colour"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Main(t.Context(), Env{Args: tt.args, Stdout: &stdout, Stderr: &stderr, Version: "v1.2.3"})
			if stderr.Len() > 0 {
				t.Errorf("stderr: %q", stderr.String())
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Main(%q): %v", tt.args, err)
				}
				checkOut(t, stdout.String(), tt.wantOut, tt.wantOutHas)
				return
			}
			var u *UsageError
			if !errors.As(err, &u) || ExitCode(err) != 2 {
				t.Fatalf("Main(%q) = %v (%T); want a usage error", tt.args, err, err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := strings.Contains(err.Error(), "commands:"); got != tt.wantUsage {
				t.Errorf("error %q: has the command list %v, want %v", err, got, tt.wantUsage)
			}
		})
	}
}

func checkOut(t *testing.T, got, exact, has string) {
	t.Helper()
	if exact != "" && got != exact {
		t.Errorf("stdout %q, want %q", got, exact)
	}
	if has != "" && !strings.Contains(got, has) {
		t.Errorf("stdout %q does not contain %q", got, has)
	}
}
