//go:build tools

// Package tools pins the Kubernetes control-plane commands the integration harness builds
// (see ../build.sh); it is never compiled into wakegate.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
