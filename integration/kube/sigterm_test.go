package kube

import (
	"os/signal"
	"syscall"
)

// ignoreTerm makes the helper process survive SIGTERM, so stop has to escalate to SIGKILL.
func ignoreTerm() { signal.Ignore(syscall.SIGTERM) }
