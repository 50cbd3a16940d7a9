package local

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestWakeBecomesReady(t *testing.T) {
	t.Parallel()
	spec := sampleSpec(t, "web")
	spec.Env = map[string]string{"GREETING": "bonjour"}
	h := newHarness(t, spec)
	h.run(t)
	if ready, _ := h.p.Ready("web"); ready {
		t.Fatal("ready before any Wake")
	}
	h.wake(t, "web")
	h.waitReady(t, "web", true)

	resp, err := http.Get(strings.TrimSuffix(spec.ReadyHTTP, "/healthz") + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "bonjour from web") {
		t.Errorf("page does not show the configured env: %s", body)
	}
	rec := h.logs.wait(t, "listening line from stdout", func(r record) bool {
		return strings.HasPrefix(r.Msg, "listening on ")
	})
	if rec.Attrs["target"] != "web" || rec.Attrs["stream"] != "stdout" {
		t.Errorf("child output attrs = %v, want target=web stream=stdout", rec.Attrs)
	}
	if s, _ := h.p.Status("web"); !s.Running || !s.Ready || s.ReadyAt.Before(s.Started) {
		t.Errorf("Status = %+v, want running and ready", s)
	}
}

func TestWakeWhileStartingStartsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleSpec(t, "slow", "--startup-delay", "300ms"))
	h.run(t)
	h.wake(t, "slow")
	pid := h.pid(t, "slow")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { h.wake(t, "slow") })
	}
	wg.Wait()
	h.waitReady(t, "slow", true)
	if got := h.pid(t, "slow"); got != pid {
		t.Errorf("pid changed from %d to %d", pid, got)
	}
	if n := len(h.logs.matching(msgIs("slow", "process started"))); n != 1 {
		t.Errorf("%d processes started, want 1", n)
	}
}

func TestSlowStart(t *testing.T) {
	t.Parallel()
	const delay = 500 * time.Millisecond
	h := newHarness(t, sampleSpec(t, "slow", "--startup-delay", delay.String()))
	h.run(t)
	h.wake(t, "slow")
	if ready, _ := h.p.Ready("slow"); ready {
		t.Fatal("ready right after Wake, before the app can listen")
	}
	h.waitReady(t, "slow", true)
	s, _ := h.p.Status("slow")
	if took := s.ReadyAt.Sub(s.Started); took < delay {
		t.Errorf("ready %s after start, before the app's %s startup delay", took, delay)
	}
}

func TestIdleStop(t *testing.T) {
	t.Parallel()
	spec := sampleSpec(t, "idle")
	spec.IdleTimeout = 300 * time.Millisecond
	h := newHarness(t, spec)
	h.run(t)
	for round := range 2 { // stopped for idleness, then woken again
		// Like the gate: the waking request is in flight until the target is ready, so a
		// start slower than IdleTimeout is not mistaken for idleness.
		h.tracker.Begin("idle")
		h.wake(t, "idle")
		h.waitReady(t, "idle", true)
		pid := h.pid(t, "idle")
		h.tracker.End("idle")
		h.waitReady(t, "idle", false)
		h.logs.waitN(t, round+1, "idle stop", msgIs("idle", "idle, stopping"))
		recs := h.logs.waitN(t, round+1, "exit", msgIs("idle", "process exited"))
		if st := recs[round].Attrs["status"]; st != "exit status 0" {
			t.Errorf("exit status = %q, want a clean exit on SIGTERM", st)
		}
		waitGone(t, pid)
	}
}

func TestCrashThenWakeRestarts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleSpec(t, "crashy"))
	h.run(t)
	h.wake(t, "crashy")
	h.waitReady(t, "crashy", true)
	pid := h.pid(t, "crashy")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitReady(t, "crashy", false)
	rec := h.logs.wait(t, "crash", msgIs("crashy", "process exited unexpectedly"))
	if rec.Attrs["status"] != "signal: killed" || rec.Attrs["pid"] != strconv.Itoa(pid) {
		t.Errorf("exit record attrs = %v", rec.Attrs)
	}
	if s, _ := h.p.Status("crashy"); s.Running {
		t.Errorf("Status after crash = %+v, want not running", s)
	}
	h.wake(t, "crashy")
	h.waitReady(t, "crashy", true)
	if got := h.pid(t, "crashy"); got == pid {
		t.Errorf("restarted process has the old pid %d", pid)
	}
}

func TestRunStopsEveryProcess(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sampleSpec(t, "a"), sampleSpec(t, "b"))
	h.wake(t, "a") // before Run: Run adopts it
	h.run(t)
	h.wake(t, "b")
	h.waitReady(t, "a", true)
	h.waitReady(t, "b", true)
	pids := []int{h.pid(t, "a"), h.pid(t, "b")}
	h.stop(t)
	for _, pid := range pids {
		waitGone(t, pid)
	}
	for _, name := range []string{"a", "b"} {
		if s, _ := h.p.Status(name); s.Running || s.Ready {
			t.Errorf("Status(%q) after Run = %+v", name, s)
		}
	}
	if err := h.p.Wake(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Wake after Run = %v, want ErrClosed", err)
	}
	if err := h.p.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("second Run = %v, want ErrClosed", err)
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()
	// The shell and its background child both ignore SIGTERM; the child's pid is printed.
	spec := shellSpec(t, "stubborn", `trap "" TERM; sleep 60 & echo "child $!"; wait`)
	spec.StopGracePeriod = 200 * time.Millisecond
	h := newHarness(t, spec)
	h.run(t)
	h.wake(t, "stubborn")
	h.waitReady(t, "stubborn", true)
	pid := h.pid(t, "stubborn")
	rec := h.logs.wait(t, "child pid line", func(r record) bool { return strings.HasPrefix(r.Msg, "child ") })
	child, err := strconv.Atoi(strings.TrimPrefix(rec.Msg, "child "))
	if err != nil {
		t.Fatalf("child pid line %q: %v", rec.Msg, err)
	}
	h.stop(t)
	h.logs.wait(t, "escalation", msgIs("stubborn", "process did not stop in time, sending SIGKILL"))
	exit := h.logs.wait(t, "exit", msgIs("stubborn", "process exited"))
	if exit.Attrs["status"] != "signal: killed" {
		t.Errorf("exit status = %q, want signal: killed", exit.Attrs["status"])
	}
	for _, p := range []int{pid, child} {
		waitGone(t, p)
	}
}

func TestChildOutputLogged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, shellSpec(t, "chatty", `echo to-out; echo to-err >&2; printf 'no newline'`))
	h.run(t)
	h.wake(t, "chatty")
	for _, want := range []struct{ msg, stream string }{{"to-out", "stdout"}, {"to-err", "stderr"}} {
		rec := h.logs.wait(t, want.msg, msgIs("chatty", want.msg))
		if rec.Attrs["stream"] != want.stream {
			t.Errorf("%q logged with stream %q, want %q", want.msg, rec.Attrs["stream"], want.stream)
		}
	}
	// The unterminated last line is logged once the process has exited.
	h.logs.wait(t, "exit", msgIs("chatty", "process exited unexpectedly"))
	if got := h.logs.matching(msgIs("chatty", "no newline")); len(got) != 1 || got[0].Attrs["stream"] != "stdout" {
		t.Errorf("partial last line logged as %v, want once on stdout", got)
	}
}

func TestWakeWhileStoppingRestarts(t *testing.T) {
	t.Parallel()
	spec := shellSpec(t, "rewake", `trap "" TERM; exec sleep 60`)
	spec.IdleTimeout = 100 * time.Millisecond
	spec.StopGracePeriod = time.Hour // the test ends each process itself
	h := newHarness(t, spec)
	h.run(t)
	h.wake(t, "rewake")
	h.logs.wait(t, "idle stop", msgIs("rewake", "idle, stopping"))
	s, _ := h.p.Status("rewake")
	if !s.Stopping || s.Ready {
		t.Fatalf("Status after idle stop = %+v, want stopping and not ready", s)
	}
	h.wake(t, "rewake") // while it ignores SIGTERM
	if err := syscall.Kill(-s.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.logs.waitN(t, 2, "second start", msgIs("rewake", "process started"))
	second := h.pid(t, "rewake")
	if second == s.PID {
		t.Fatalf("second process has the first one's pid %d", second)
	}
	h.tracker.Begin("rewake") // keep it from idling again, so only the kill below ends it
	defer h.tracker.End("rewake")
	if err := syscall.Kill(-second, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.logs.waitN(t, 2, "second exit", func(r record) bool {
		return r.Attrs["target"] == "rewake" && strings.HasPrefix(r.Msg, "process exited")
	})
}

func TestWakeErrors(t *testing.T) {
	t.Parallel()
	missing := Spec{Name: "missing", Command: []string{"/nonexistent/wakegate-test-binary"}, ReadyTCP: "127.0.0.1:1",
		ReadyInterval: time.Second, IdleTimeout: time.Hour}
	h := newHarness(t, missing)
	h.run(t)
	if err := h.p.Wake(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Wake(unknown) = %v, want an error naming it", err)
	}
	if ready, ch := h.p.Ready("nope"); ready || ch != nil {
		t.Errorf("Ready(unknown) = %v, %v; want false, nil", ready, ch)
	}
	err := h.p.Wake(context.Background(), "missing")
	if err == nil || !strings.Contains(err.Error(), "wakegate-test-binary") {
		t.Errorf("Wake(missing binary) = %v, want an error naming the binary", err)
	}
	if s, _ := h.p.Status("missing"); s.Running {
		t.Errorf("Status after failed start = %+v", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.p.Wake(ctx, "missing"); !errors.Is(err, context.Canceled) {
		t.Errorf("Wake(cancelled ctx) = %v, want context.Canceled", err)
	}
}
