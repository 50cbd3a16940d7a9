package kube

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeTB records what the harness reports. Fatalf ends the calling goroutine, as testing.T's does;
// cleanups run only when the test calls runCleanups. Safe for concurrent use.
type fakeTB struct {
	real *testing.T

	mu       sync.Mutex
	dirs     []string
	fatal    string
	logs     []string
	cleanups []func()
}

var _ TB = (*fakeTB)(nil)

func (f *fakeTB) Helper() {}

func (f *fakeTB) TempDir() string {
	dir := f.real.TempDir()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirs = append(f.dirs, dir)
	return dir
}

func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fatal != ""
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) runCleanups() {
	f.mu.Lock()
	fns := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// startFake runs Start against tb in its own goroutine, as Fatalf ends the goroutine it runs in.
func startFake(tb *fakeTB, opts Options) *Cluster {
	var c *Cluster
	done := make(chan struct{})
	go func() {
		defer close(done)
		c = Start(tb, opts)
	}()
	<-done
	return c
}

// TestStartFailureStopsEverything makes kube-apiserver exit at start-up and checks that Start
// fails naming it and quoting its log, that the cleanup logs every component's log, and that
// etcd, already running by then, is stopped.
func TestStartFailureStopsEverything(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("kube: %v", err)
	}
	tb := &fakeTB{real: t}
	c := startFake(tb, Options{APIServerArgs: []string{"--no-such-flag"}})
	tb.runCleanups()
	if c != nil {
		t.Fatal("Start returned a cluster although kube-apiserver cannot start")
	}
	if !strings.Contains(tb.fatal, "kube-apiserver exited") || !strings.Contains(tb.fatal, "no-such-flag") {
		t.Fatalf("Fatalf message = %q, want kube-apiserver's exit and its complaint about the flag", tb.fatal)
	}
	logged := strings.Join(tb.logs, "\n")
	if !strings.Contains(logged, "etcd.log") || !strings.Contains(logged, "kube-apiserver.log") {
		t.Errorf("logs = %q, want the tails of etcd's and kube-apiserver's logs", logged)
	}
	for _, dir := range tb.dirs {
		if pids := processesNaming(dir); len(pids) > 0 {
			t.Errorf("processes still naming %s after the failed start: %v", dir, pids)
		}
	}
}

// processesNaming returns the /proc entries whose command line contains s (pgrep -f s).
func processesNaming(s string) []string {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var found []string
	for _, f := range cmdlines {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), s) {
			found = append(found, filepath.Dir(f))
		}
	}
	return found
}

// TestStartMissingBinariesFails checks that Start, unlike SkipIfUnavailable, fails outright and
// names the build script when the binaries are missing.
func TestStartMissingBinariesFails(t *testing.T) {
	tb := &fakeTB{real: t}
	c := startFake(tb, Options{BinDir: t.TempDir()})
	defer tb.runCleanups()
	if c != nil || !strings.Contains(tb.fatal, "tools/k8s/build.sh") {
		t.Fatalf("Start = %v, Fatalf message %q; want a failure naming tools/k8s/build.sh", c, tb.fatal)
	}
}
