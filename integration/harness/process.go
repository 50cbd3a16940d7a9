package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ProcessOptions describe a process to start.
type ProcessOptions struct {
	Name    string   // for messages
	Path    string   // the executable
	Args    []string // without the program name
	Env     []string // KEY=VALUE added to the harness's own environment
	Dir     string   // working directory; "" for the harness's own
	LogPath string   // stdout and stderr are written here; required
}

// Process is a started child process. Its output goes to a log file. It runs in its own
// process group and, on Linux, is killed if the harness dies.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // written before done is closed
}

// StartProcess starts opts.Path. The caller must call Stop.
func StartProcess(opts ProcessOptions) (*Process, error) {
	if opts.LogPath == "" {
		return nil, fmt.Errorf("start %s: LogPath is required", opts.Name)
	}
	logf, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", opts.Name, err)
	}
	cmd := exec.Command(opts.Path, opts.Args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", opts.Name, opts.Path, err)
	}
	p := &Process{name: opts.Name, logPath: opts.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Name returns the name the process was started with.
func (p *Process) Name() string { return p.name }

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done returns a channel closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr returns how the process ended (nil for exit status 0). Valid after Done.
func (p *Process) ExitErr() error {
	<-p.done
	return p.waitErr
}

// Signal sends sig to the process (not its group).
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then sends SIGKILL.
// Afterwards it kills whatever is left in the process group (children the process failed to
// stop). It returns an error if the process did not exit with status 0 on its own after
// SIGTERM, or left children behind. Calling Stop again returns the same kind of answer.
func (p *Process) Stop(grace time.Duration) error {
	var errs []error
	select {
	case <-p.done:
	default:
		_ = p.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
			t.Stop()
		case <-t.C:
			_ = p.Signal(syscall.SIGKILL)
			<-p.done
			errs = append(errs, fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.name, grace))
		}
	}
	if p.waitErr != nil {
		errs = append(errs, fmt.Errorf("%s exited: %w", p.name, p.waitErr))
	}
	// The group id is the pid (Setpgid); the kernel keeps it while any member lives.
	if err := syscall.Kill(-p.PID(), syscall.SIGKILL); err == nil {
		errs = append(errs, fmt.Errorf("%s left processes in its group %d; killed them", p.name, p.PID()))
	}
	return errors.Join(errs...)
}

// LogPath returns the file holding the process's output.
func (p *Process) LogPath() string { return p.logPath }

// Log returns the process's output so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// CountLines returns how many lines of the output contain s.
func (p *Process) CountLines(s string) int {
	n := 0
	for line := range strings.Lines(p.Log()) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// logTailLines is how much of a process's output a failed test prints.
const logTailLines = 150

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := bytes.Split([]byte(strings.TrimRight(s, "\n")), []byte("\n"))
	if len(lines) > n {
		lines = append([][]byte{[]byte(fmt.Sprintf("... (%d lines before)", len(lines)-n))}, lines[len(lines)-n:]...)
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// stopOnCleanup registers Stop with t: a failed stop fails the test, and a failed test gets
// the end of the process's output.
func (p *Process) stopOnCleanup(t TB) {
	t.Cleanup(func() {
		if err := p.Stop(StopGrace); err != nil {
			t.Errorf("stop %s: %v", p.name, err)
		}
		if t.Failed() {
			t.Logf("--- output of %s (pid %d, %s):\n%s", p.name, p.PID(), p.logPath, tail(p.Log(), logTailLines))
		}
	})
}
