package local

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// waitDelay bounds how long reaping waits for a child's output pipes once it has exited,
// in case something outside its process group still holds them open.
const waitDelay = 2 * time.Second

// target is one Spec and the state of its process. mu guards every field below it.
type target struct {
	spec Spec
	log  *slog.Logger // with the target attribute

	mu      sync.Mutex
	proc    *process      // nil when no process exists
	ready   bool          // proc passed its probe and is not stopping
	readyAt time.Time     // when ready became true
	changed chan struct{} // closed and replaced at every change of the fields above
	rewake  bool          // start again once the stopping process has exited
}

func newTarget(s Spec, log *slog.Logger) *target {
	return &target{spec: s, log: log.With("target", s.Name), changed: make(chan struct{})}
}

// broadcastLocked wakes everyone waiting on t.changed. t.mu must be held.
func (t *target) broadcastLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// process is one started child. Its fields other than done are guarded by the target's mu.
type process struct {
	cmd      *exec.Cmd
	pid      int
	started  time.Time
	stopping bool          // SIGTERM sent (or about to be)
	exited   bool          // the child has exited; its pid is no longer ours to signal
	done     chan struct{} // closed once the child is reaped and the target updated
}

// startLocked starts t's process and the goroutines that reap and probe it. The caller
// holds p.mu (read, with p.closed false) and t.mu, and t.proc is nil.
func (p *Provider) startLocked(t *target) error {
	cmd := exec.Command(t.spec.Command[0], t.spec.Command[1:]...)
	cmd.Dir = t.spec.Dir
	cmd.Env = environ(t.spec.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, stderr := newLineWriter(t.log, "stdout"), newLineWriter(t.log, "stderr")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		t.log.Error("process start failed", "command", t.spec.Command, "dir", t.spec.Dir, "err", err)
		return fmt.Errorf("local provider: start %q: %w", t.spec.Name, err)
	}
	pr := &process{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{})}
	t.proc, t.ready, t.rewake = pr, false, false
	t.broadcastLocked()
	t.log.Info("process started", "pid", pr.pid, "command", t.spec.Command)
	p.wg.Add(2)
	go p.reap(t, pr, stdout, stderr)
	go p.probeLoop(t, pr)
	return nil
}

// environ is wakegate's environment with extra added; later entries win in os/exec.
func environ(extra map[string]string) []string {
	env := os.Environ()
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// reap waits for pr to exit, kills whatever is left of its process group, collects it,
// and marks t not running. It restarts the process if a Wake came in while it stopped.
func (p *Provider) reap(t *target, pr *process, outs ...*lineWriter) {
	defer p.wg.Done()
	waitExited(pr.pid) // the zombie keeps pid and group id reserved until Wait
	t.mu.Lock()
	pr.exited = true
	_ = syscall.Kill(-pr.pid, syscall.SIGKILL) // children left behind in its group
	t.mu.Unlock()
	err := pr.cmd.Wait()
	for _, w := range outs {
		w.Flush()
	}
	t.mu.Lock()
	expected, rewake := pr.stopping, t.rewake
	t.proc, t.ready, t.rewake = nil, false, false
	t.broadcastLocked()
	t.mu.Unlock()
	close(pr.done)
	logExit(t.log, pr, expected, err)
	if rewake {
		p.restart(t)
	}
}

// waitExited blocks until the child pid has exited, without collecting it.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

func logExit(log *slog.Logger, pr *process, expected bool, err error) {
	attrs := []any{"pid", pr.pid, "uptime", time.Since(pr.started).Round(time.Millisecond)}
	if st := pr.cmd.ProcessState; st != nil {
		attrs = append(attrs, "status", st.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		attrs = append(attrs, "err", err)
	}
	if expected {
		log.Info("process exited", attrs...)
		return
	}
	log.Warn("process exited unexpectedly", attrs...)
}

// restart starts t again unless shutdown has begun or something else already did.
func (p *Provider) restart(t *target) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc == nil {
		_ = p.startLocked(t) // logged by startLocked; the gate's next Wake retries
	}
}

// stopLocked marks pr not ready and stopping, sends SIGTERM to its process group and
// leaves the SIGKILL escalation to a goroutine. t.mu must be held; the caller must be
// counted in p.wg or be Run before its Wait.
func (p *Provider) stopLocked(t *target, pr *process) {
	if pr.stopping {
		return
	}
	pr.stopping, t.ready = true, false
	t.broadcastLocked()
	signalLocked(pr, syscall.SIGTERM)
	p.wg.Add(1)
	go p.escalate(t, pr)
}

// escalate sends SIGKILL to pr's group if it has not exited after the grace period.
func (p *Provider) escalate(t *target, pr *process) {
	defer p.wg.Done()
	if g := t.spec.StopGracePeriod; g > 0 {
		timer := time.NewTimer(g)
		defer timer.Stop()
		select {
		case <-pr.done:
			return
		case <-timer.C:
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !pr.exited {
		t.log.Warn("process did not stop in time, sending SIGKILL", "pid", pr.pid, "grace", t.spec.StopGracePeriod)
		signalLocked(pr, syscall.SIGKILL)
	}
}

// signalLocked signals pr's process group unless pr has exited (then its pid may belong to
// someone else soon). The target's mu must be held.
func signalLocked(pr *process, sig syscall.Signal) {
	if !pr.exited {
		_ = syscall.Kill(-pr.pid, sig)
	}
}
