package kube

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// podCIDR is the range kwok hands pod IPs out of; nodeIP is the fake node's address. Neither is
// routable, and tests must never connect to them.
const (
	podCIDR = "10.244.0.0/16"
	nodeIP  = "10.245.0.1"
)

// bringUp starts etcd, the apiserver, the controller-manager, the scheduler and kwok, registers
// the fake node and waits until the cluster can run pods. It returns how long each step took.
func (c *Cluster) bringUp(ctx context.Context) (string, error) {
	var err error
	if c.pki, err = newPKI(filepath.Join(c.dir, "pki")); err != nil {
		return "", err
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"etcd", func(ctx context.Context) error { return retryOnAddrInUse(ctx, c.startEtcd) }},
		{"apiserver", func(ctx context.Context) error { return retryOnAddrInUse(ctx, c.startAPIServer) }},
		{"node+serviceaccount", func(ctx context.Context) error {
			if err := c.startControllers(); err != nil {
				return err
			}
			return c.waitWorkloadReady(ctx)
		}},
	}
	var timings []string
	for _, s := range steps {
		began := time.Now()
		if err := s.run(ctx); err != nil {
			return "", err
		}
		timings = append(timings, fmt.Sprintf("%s %v", s.name, time.Since(began).Round(time.Millisecond)))
	}
	return strings.Join(timings, ", "), nil
}

// retryOnAddrInUse runs start, and once more if it failed because a chosen port was taken.
func retryOnAddrInUse(ctx context.Context, start func(context.Context) error) error {
	err := start(ctx)
	if errors.Is(err, errAddrInUse) {
		err = start(ctx)
	}
	return err
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := c.launch(procSpec{name: "etcd", path: c.bins.Etcd, args: []string{
		"--name", "wakegate-test", "--data-dir", filepath.Join(c.dir, "etcd-"+strconv.Itoa(client)),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "wakegate-test=" + peerURL,
		"--log-level", "warn", "--unsafe-no-fsync",
	}})
	if err != nil {
		return err
	}
	c.etcd = endpoint{port: client, peerPort: peer}
	return waitHTTPReady(ctx, p, httpProbe{url: clientURL + "/health"})
}

// startAPIServer starts kube-apiserver on a fresh port and writes the admin kubeconfig for it.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.server = "https://127.0.0.1:" + strconv.Itoa(port)
	if c.admin, err = newIdentity(c.pki, c.dir, c.server, "admin", "admin", "system:masters"); err != nil {
		return err
	}
	cert, key, err := c.pki.issue(apiServerRequest())
	if err != nil {
		return err
	}
	args := []string{
		"--etcd-servers", "http://127.0.0.1:" + strconv.Itoa(c.etcd.port),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--tls-cert-file", cert, "--tls-private-key-file", key, "--client-ca-file", c.pki.caCert,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", c.pki.saPub, "--service-account-signing-key-file", c.pki.saKey,
		"--service-cluster-ip-range", serviceCIDR,
		"--authorization-mode", "RBAC",
		// The default reconciler would publish 127.0.0.1 as the kubernetes Service's endpoint,
		// which EndpointSlice validation rejects.
		"--endpoint-reconciler-type", "none",
		"--enable-priority-and-fairness=false", "--profiling=false",
		// Shut down within ~2 s of SIGTERM once requests drain, instead of waiting up to the
		// request timeout (60 s) for open watches.
		"--shutdown-send-retry-after=true",
	}
	p, err := c.launch(procSpec{name: "kube-apiserver", path: c.bins.APIServer, args: append(args, c.opts.APIServerArgs...)})
	if err != nil {
		return err
	}
	return c.waitAPIServerReady(ctx, p)
}

// waitAPIServerReady waits for /readyz to answer 200 to the admin.
func (c *Cluster) waitAPIServerReady(ctx context.Context, p *process) error {
	return waitHTTPReady(ctx, p, httpProbe{url: c.server + "/readyz", tls: c.RESTConfig()})
}

// startControllers starts kube-controller-manager, kube-scheduler and kwok, each with its own
// kubeconfig; none of them opens a port. The controller-manager runs every controller under its
// own identity, made a cluster admin: with per-controller service-account credentials
// (--use-service-account-credentials) bring-up took 6 s instead of 0.4 s and a scale-up 0.5 s
// instead of 0.1 s on a 2-core machine.
func (c *Cluster) startControllers() error {
	kcm, err := newIdentity(c.pki, c.dir, c.server, "kube-controller-manager", "system:kube-controller-manager",
		"system:masters")
	if err != nil {
		return err
	}
	sched, err := newIdentity(c.pki, c.dir, c.server, "kube-scheduler", "system:kube-scheduler")
	if err != nil {
		return err
	}
	specs := []procSpec{
		{name: "kube-controller-manager", path: c.bins.ControllerManager, args: append(componentArgs(kcm),
			"--service-account-private-key-file", c.pki.saKey, "--root-ca-file", c.pki.caCert,
			"--cluster-signing-cert-file", c.pki.caCert, "--cluster-signing-key-file", c.pki.caKey,
			"--use-service-account-credentials=false")},
		{name: "kube-scheduler", path: c.bins.Scheduler, args: componentArgs(sched)},
		{name: "kwok", path: c.bins.Kwok, args: []string{
			"--kubeconfig", c.admin.kubeconfig, "--config", c.opts.KwokStages,
			"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", fakeNodeSelector,
			"--cidr", podCIDR, "--node-ip", nodeIP,
		}},
	}
	for _, s := range specs {
		if _, err := c.launch(s); err != nil {
			return err
		}
	}
	return nil
}

// componentArgs are the flags kube-controller-manager and kube-scheduler share: a kubeconfig for
// everything, no serving port, no leader election.
func componentArgs(id identity) []string {
	return []string{
		"--kubeconfig", id.kubeconfig,
		"--authentication-kubeconfig", id.kubeconfig, "--authorization-kubeconfig", id.kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", "0",
		"--leader-elect=false", "--profiling=false",
	}
}

// RestartAPIServer stops kube-apiserver and starts it again with the same flags on the same
// port, returning once it is ready again. Clients and the other components reconnect by
// themselves; watches in flight are closed by the server and must be re-established.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	old := c.process("kube-apiserver")
	if old == nil {
		return errors.New("restart kube-apiserver: not started")
	}
	old.stop(stopGrace)
	p, err := c.relaunch(old)
	if err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	if err := c.waitAPIServerReady(ctx, p); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}

// relaunch starts old's spec again in old's place in the start order, so Stop still stops the
// components in reverse dependency order.
func (c *Cluster) relaunch(old *process) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("cluster already stopped")
	}
	p, err := startProcess(old.spec, c.env)
	if err != nil {
		return nil, err
	}
	for i := range c.procs {
		if c.procs[i] == old {
			c.procs[i] = p
		}
	}
	return p, nil
}
