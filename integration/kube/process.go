package kube

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a component gets to exit after SIGTERM before it is killed.
const stopGrace = 10 * time.Second

// errAddrInUse marks a component that exited because its port was taken between freePort
// choosing it and the component binding it; the caller picks new ports and retries once.
var errAddrInUse = errors.New("address already in use")

// procSpec is everything needed to (re)start one component.
type procSpec struct {
	name    string
	path    string
	args    []string
	env     []string // appended to the harness's child environment
	logPath string
}

// process is one started component. It is owned by the Cluster that started it; done is closed
// once the process has exited and been reaped, after which waitErr is set and never changes.
type process struct {
	spec    procSpec
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// startProcess starts spec with stdout and stderr appended to spec.logPath and reaps the process
// in a goroutine that ends when the process does.
func startProcess(spec procSpec, baseEnv []string) (*process, error) {
	logFile, err := os.OpenFile(spec.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", spec.name, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	fmt.Fprintf(logFile, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), spec.path,
		strings.Join(spec.args, " "))
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Env = append(append([]string{}, baseEnv...), spec.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.name, spec.path, err)
	}
	p := &process{spec: spec, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid returns the operating-system process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitError describes an unexpected exit, wrapping errAddrInUse when the log says a port was
// taken, and quoting the end of the log otherwise.
func (p *process) exitError() error {
	tail := p.tail(20)
	if strings.Contains(tail, "address already in use") {
		return fmt.Errorf("%s exited (%v): %w", p.spec.name, p.waitErr, errAddrInUse)
	}
	return fmt.Errorf("%s exited (%v); end of %s:\n%s", p.spec.name, p.waitErr, p.spec.logPath, tail)
}

// stop sends SIGTERM, then SIGKILL if the process outlives grace, and returns once it is reaped.
// It is a no-op on a process that has already exited.
func (p *process) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only if it exited meanwhile
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns up to the last n lines of the component's log.
func (p *process) tail(n int) string {
	return tailFile(p.spec.logPath, n)
}

// tailFile returns up to the last n lines of the file at path, reading at most its last 64 KiB.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const window = 64 << 10
	buf := make([]byte, window)
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot stat %s: %v)", path, err)
	}
	off := max(fi.Size()-window, 0)
	k, _ := f.ReadAt(buf, off) // io.EOF is expected: the window reaches the end of the file
	lines := bytes.Split(bytes.TrimRight(buf[:k], "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePort asks the kernel for a free loopback TCP port. The port is released before the
// component binds it, so another process could take it in between; that window is tiny, and a
// component that then fails with "address already in use" is restarted once on fresh ports.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free loopback port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("release port %d: %w", port, err)
	}
	return port, nil
}
