package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// record is one captured log record with its attributes flattened to strings.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// logStore captures records and lets tests wait for one. Safe for concurrent use.
type logStore struct {
	mu      sync.Mutex
	recs    []record
	changed chan struct{}
}

type recordHandler struct {
	store *logStore
	attrs []slog.Attr
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recordHandler{store: h.store, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h recordHandler) WithGroup(string) slog.Handler { return h }

func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	rec := record{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.String()
		return true
	})
	s := h.store
	s.mu.Lock()
	s.recs = append(s.recs, rec)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func newLogStore() (*logStore, *slog.Logger) {
	s := &logStore{changed: make(chan struct{})}
	return s, slog.New(recordHandler{store: s})
}

// matching returns the records for which match is true.
func (s *logStore) matching(match func(record) bool) []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []record
	for _, r := range s.recs {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// waitN waits until at least n records match and returns them.
func (s *logStore) waitN(t *testing.T, n int, what string, match func(record) bool) []record {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if got := s.matching(match); len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %d log record(s): %s; have:\n%s", n, what, s.dump())
		}
	}
}

func (s *logStore) wait(t *testing.T, what string, match func(record) bool) record {
	t.Helper()
	return s.waitN(t, 1, what, match)[0]
}

func (s *logStore) dump() string {
	var b strings.Builder
	for _, r := range s.matching(func(record) bool { return true }) {
		fmt.Fprintf(&b, "  %s %q %v\n", r.Level, r.Msg, r.Attrs)
	}
	return b.String()
}

// msgIs matches records of target with exactly this message.
func msgIs(target, msg string) func(record) bool {
	return func(r record) bool { return r.Msg == msg && r.Attrs["target"] == target }
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
