//go:build !linux

package kube

import "syscall"

// childSysProcAttr returns no special attributes: only Linux can tie a child's life to its
// parent's, so elsewhere a killed test binary can leave components behind.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
