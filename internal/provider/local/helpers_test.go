package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/wakegate/wakegate/internal/activity"
)

// eventTimeout bounds every wait for an event; generous so a slow machine does not flake.
const eventTimeout = 20 * time.Second

// sampleApp is the path of the sample-app binary TestMain builds.
var sampleApp string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wakegate-local-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	sampleApp = filepath.Join(dir, "sample-app")
	build := exec.Command("go", "build", "-o", sampleApp, "github.com/wakegate/wakegate/examples/sample-app")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building sample-app: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			return 1
		}
	}
	return code
}

// harness is a Provider under test with its tracker and captured logs.
type harness struct {
	p       *Provider
	tracker *activity.Tracker
	logs    *logStore
	cancel  context.CancelFunc
	done    chan error
}

// newHarness creates a Provider for specs. It does not start Run; call run.
func newHarness(t *testing.T, specs ...Spec) *harness {
	t.Helper()
	logs, log := newLogStore()
	tr := activity.New(0)
	p, err := New(Options{Specs: specs, Tracker: tr, Logger: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &harness{p: p, tracker: tr, logs: logs}
}

// run starts Run; the test's cleanup cancels it and waits for it to return.
func (h *harness) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.p.Run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
}

// stop cancels Run and waits for it; calling it again is harmless.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	select {
	case err, ok := <-h.done:
		if ok && err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		if ok {
			close(h.done)
		}
	case <-time.After(eventTimeout):
		t.Fatalf("Run did not return within %s of cancel", eventTimeout)
	}
}

// waitReady waits until target's readiness is want, following the broadcast channel.
func (h *harness) waitReady(t *testing.T, target string, want bool) {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		ready, changed := h.p.Ready(target)
		if ready == want {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("target %q: ready did not become %v; logs:\n%s", target, want, h.logs.dump())
		}
	}
}

func (h *harness) wake(t *testing.T, target string) {
	t.Helper()
	if err := h.p.Wake(context.Background(), target); err != nil {
		t.Fatalf("Wake(%q): %v", target, err)
	}
}

func (h *harness) pid(t *testing.T, target string) int {
	t.Helper()
	s, ok := h.p.Status(target)
	if !ok || !s.Running {
		t.Fatalf("target %q: not running (%+v)", target, s)
	}
	return s.PID
}

// freeAddr returns a loopback address whose port the OS just handed out.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// listenTCP opens a listener the test owns, for TCP readiness of commands that do not listen.
func listenTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// sampleSpec runs sample-app on a fresh port with HTTP readiness.
func sampleSpec(t *testing.T, name string, extraArgs ...string) Spec {
	addr := freeAddr(t)
	return Spec{
		Name:          name,
		Command:       append([]string{sampleApp, "--listen", addr, "--name", name}, extraArgs...),
		ReadyHTTP:     "http://" + addr + "/healthz",
		ReadyInterval: 20 * time.Millisecond, IdleTimeout: time.Hour, StopGracePeriod: 5 * time.Second,
	}
}

// shellSpec runs script with sh and TCP readiness against a listener the test owns.
func shellSpec(t *testing.T, name, script string) Spec {
	return Spec{
		Name: name, Command: []string{"sh", "-c", script}, ReadyTCP: listenTCP(t),
		ReadyInterval: 20 * time.Millisecond, IdleTimeout: time.Hour, StopGracePeriod: 5 * time.Second,
	}
}

// waitGone waits until pid has exited. A pidfd becomes readable when its process exits,
// which works for processes that are not our children (an orphaned grandchild) too.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(eventTimeout/time.Millisecond))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			t.Fatalf("poll pidfd of %d: %v", pid, err)
		case n == 0:
			t.Fatalf("pid %d still runs %s later", pid, eventTimeout)
		}
		return
	}
}
