package harness

import "syscall"

// sysProcAttr puts the child in its own process group and kills it if the harness's thread
// dies, so a crashed test run leaves no servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
