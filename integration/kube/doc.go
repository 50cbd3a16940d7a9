// Package kube starts a real, loopback-only Kubernetes control plane for integration tests:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (a fake kubelet that
// makes one fake node and its pods Ready), each a child process of the test with its own state
// directory and log file, stopped by PID when the test ends. No container engine is needed; the
// binaries come from tools/k8s/build.sh.
//
// Typical use:
//
//	func TestSomething(t *testing.T) {
//		kube.SkipIfUnavailable(t)
//		c := kube.Start(t, kube.Options{})
//		cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
//		...
//	}
//
// Pods get addresses from 10.244.0.0/16 that nothing answers on; tests must never connect to a
// pod or node address but map endpoints to loopback backends instead.
package kube
