package kube

import "syscall"

// childSysProcAttr makes the kernel kill a component when the test binary dies without running
// its cleanups (a panic in another goroutine, a timeout kill). Pdeathsig fires when the thread
// that started the child exits; Go keeps its threads alive, so in practice that is process exit.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
