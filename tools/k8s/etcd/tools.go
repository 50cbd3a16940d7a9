//go:build tools

// Package tools pins the etcd server the integration harness builds (see ../build.sh).
package tools

import _ "go.etcd.io/etcd/server/v3"
