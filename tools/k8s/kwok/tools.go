//go:build tools

// Package tools pins kwok, the fake kubelet the integration harness builds (see ../build.sh).
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
