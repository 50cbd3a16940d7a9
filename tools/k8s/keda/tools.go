//go:build tools

// Package tools pins the KEDA operator the optional integration tier builds (see ../build.sh).
package tools

import _ "github.com/kedacore/keda/v2/cmd/operator"
