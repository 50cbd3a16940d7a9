package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// TB is the part of testing.TB the harness uses; *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(f func())
	TempDir() string
	Failed() bool
}

// SkipTB is a TB that can also skip, as *testing.T can.
type SkipTB interface {
	TB
	Skipf(format string, args ...any)
}

// Options configures Start. The zero value is ready to use.
type Options struct {
	// BinDir is a directory holding every control-plane binary; empty means $WAKEGATE_K8S_BIN,
	// then the .tools/ cache that tools/k8s/build.sh fills (see FindBinaries).
	BinDir string
	// KwokStages is kwok's stage configuration; empty means <repo>/tools/k8s/kwok-stages.yaml.
	KwokStages string
	// NodeName names the fake node kwok manages; empty means "kwok-node-0".
	NodeName string
	// StartTimeout bounds the whole bring-up; zero means two minutes.
	StartTimeout time.Duration
	// APIServerArgs are extra kube-apiserver flags, appended after the harness's own.
	APIServerArgs []string
}

func (o Options) withDefaults() (Options, error) {
	if o.NodeName == "" {
		o.NodeName = "kwok-node-0"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.KwokStages == "" {
		root, err := RepoRoot()
		if err != nil {
			return o, err
		}
		o.KwokStages = filepath.Join(root, "tools", "k8s", "kwok-stages.yaml")
	}
	if _, err := os.Stat(o.KwokStages); err != nil {
		return o, fmt.Errorf("Options.KwokStages: %w", err)
	}
	return o, nil
}

// Cluster is a running control plane owned by one test. Kubeconfig, RESTConfig, Server, StateDir,
// Kubectl and ApplyServerSide are safe for concurrent use; Stop, RestartAPIServer and StartKEDA
// serialize on an internal lock. The test's cleanup stops every process the Cluster started.
type Cluster struct {
	t      TB
	opts   Options
	bins   Binaries
	dir    string // state root: pki/, logs/, etcd/, home/
	env    []string
	pki    *pki
	admin  identity
	etcd   endpoint // etcd client URL and peer port
	server string   // https://127.0.0.1:<port>

	mu      sync.Mutex
	procs   []*process // in start order
	stopped bool
}

// endpoint records the loopback ports of a started component.
type endpoint struct{ port, peerPort int }

// SkipIfUnavailable skips t, with a message saying how to build the binaries, when they are
// missing, except under CI=true, where missing binaries are a setup error and fail t instead.
func SkipIfUnavailable(t SkipTB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("kube: CI=true but the control plane is unavailable: %v", err)
	}
	t.Skipf("kube: %v", err)
}

// Start brings up a control plane and returns once the apiserver is ready, the fake node is
// Ready and the default ServiceAccount exists. Any failure, including missing binaries (see
// SkipIfUnavailable), fails t with the tail of every component's log. Everything started is
// stopped in t's cleanup, also on failure.
func Start(t TB, opts Options) *Cluster {
	t.Helper()
	c, err := newCluster(t, opts)
	if err != nil {
		t.Fatalf("kube: %v", err)
	}
	t.Cleanup(c.cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	began := time.Now()
	timings, err := c.bringUp(ctx)
	if err != nil {
		c.Stop() // the cleanup logs the tails of the logs once t has failed
		t.Fatalf("kube: start control plane: %v", err)
	}
	t.Logf("kube: control plane up in %v (%s) at %s, state in %s",
		time.Since(began).Round(time.Millisecond), timings, c.server, c.dir)
	return c
}

func newCluster(t TB, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	bins, err := FindBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	c := &Cluster{t: t, opts: opts, bins: bins, dir: dir, env: childEnv(dir)}
	for _, sub := range []string{"logs", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("create state dir: %w", err)
		}
	}
	return c, nil
}

// childEnv is the components' environment: the test's, minus KUBECONFIG (every component gets
// an explicit one), with HOME inside the state directory so nothing writes to the real home.
func childEnv(dir string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "HOME=")
	})
	return append(env, "HOME="+filepath.Join(dir, "home"))
}

// Kubeconfig returns the path of a kubeconfig file for a cluster administrator (system:masters).
func (c *Cluster) Kubeconfig() string { return c.admin.kubeconfig }

// RESTConfig returns a new client configuration for a cluster administrator; callers may modify it.
func (c *Cluster) RESTConfig() *rest.Config { return c.admin.restConfig(c.server, c.pki.caCert) }

// Server returns the apiserver's URL, https://127.0.0.1:<port>; it survives RestartAPIServer.
func (c *Cluster) Server() string { return c.server }

// StateDir returns the directory holding the cluster's certificates, data and logs/<component>.log.
// Every component's command line names it, so `pgrep -f StateDir()` finds leftovers.
func (c *Cluster) StateDir() string { return c.dir }

// Binaries returns the executables the cluster runs.
func (c *Cluster) Binaries() Binaries { return c.bins }

// PIDs returns the process id of every running component, keyed by component name.
func (c *Cluster) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := map[string]int{}
	for _, p := range c.procs {
		if p.running() {
			pids[p.spec.name] = p.pid()
		}
	}
	return pids
}

// Stop stops every component in reverse start order (SIGTERM, SIGKILL after a grace period) and
// reaps it. It is idempotent and also runs in the test's cleanup.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(stopGrace)
	}
}

func (c *Cluster) cleanup() {
	if c.t.Failed() {
		c.logTails()
	}
	c.Stop()
}

// logTails logs the end of every component's log file.
func (c *Cluster) logTails() {
	logs, _ := filepath.Glob(filepath.Join(c.dir, "logs", "*.log"))
	for _, l := range logs {
		c.t.Logf("kube: --- last lines of %s ---\n%s", l, tailFile(l, 30))
	}
}

// launch starts spec and records the process so that Stop stops it.
func (c *Cluster) launch(spec procSpec) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("cluster already stopped")
	}
	spec.logPath = filepath.Join(c.dir, "logs", spec.name+".log")
	p, err := startProcess(spec, c.env)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// process returns the most recently started component called name, or nil.
func (c *Cluster) process(name string) *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.procs) - 1; i >= 0; i-- {
		if c.procs[i].spec.name == name {
			return c.procs[i]
		}
	}
	return nil
}
