package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/kedacore/keda/v2/pkg/generated/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/provider/kube"
)

// serveFlags are `wakegate serve`'s own flags.
type serveFlags struct {
	kubeconfig, namespaces, releaseProbe string
	probeBudget                          time.Duration
	directWake                           bool
	dialTo                               string // testing: every release probe dials this address
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig `file`; empty: $KUBECONFIG, ~/.kube/config, then in-cluster")
	fs.StringVar(&f.namespaces, "namespaces", "", "comma-separated `namespaces` to watch; empty: all")
	fs.StringVar(&f.releaseProbe, "release-probe", "tcp", "connect to a ready endpoint before releasing held requests: tcp or none")
	fs.DurationVar(&f.probeBudget, "release-probe-budget", kube.DefaultProbeBudget, "longest the release probe may delay a release")
	fs.StringVar(&f.dialTo, "release-probe-dial-to", "",
		"testing only: dial this `host:port` instead of the endpoint's address in the release probe (pods on loopback)")
	fs.BoolVar(&f.directWake, "direct-wake", false, "also scale the workload from 0 to 1 directly (KEDA keeps owning replica counts)")
}

// runServe is `wakegate serve`: targets are KEDA ScaledObjects with an external-push trigger
// carrying wakegate's routing keys; readiness comes from the Service's EndpointSlices.
func runServe(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o ServerOptions
	var sf serveFlags
	o.register(fs)
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	errs := o.Validate()
	mode, err := kube.ParseProbeMode(sf.releaseProbe)
	if err != nil {
		errs = append(errs, fmt.Errorf("--release-probe: %w", err))
	}
	if len(errs) > 0 {
		return &UsageError{Err: errors.Join(errs...)}
	}
	log, err := newLogger(env.Stderr, o.LogFormat, o.LogLevel)
	if err != nil {
		return &UsageError{Err: err}
	}
	klog.SetSlogLogger(log.With("component", "client-go"))
	kc, kd, err := kubeClients(sf.kubeconfig, env.Version)
	if err != nil {
		return err
	}
	tracker := activity.New(0)
	var s *stack // set before s.run starts prov.Run, the only caller of OnTargets
	prov, err := kube.New(kube.Options{Kube: kc, KEDA: kd, Namespaces: splitList(sf.namespaces), Logger: log,
		ReleaseProbe: mode, ProbeBudget: sf.probeBudget, DirectWake: sf.directWake, Dial: sf.dialer(),
		OnTargets: func(ts []gate.Target) { s.setTargets(ts) }})
	if err != nil {
		return &UsageError{Err: err}
	}
	s, err = newStack(stackConfig{Options: o, Logger: log, Tracker: tracker, Provider: prov, Resolver: prov.Resolver()})
	if err != nil {
		return err
	}
	s.infra = append(s.infra, prov.Run)
	s.probes.requireReady("kubernetes informers synced", prov.Synced)
	log.Info("starting", "mode", "kubernetes", "namespaces", sf.namespaces, "directWake", sf.directWake, "version", env.Version)
	return s.run(ctx)
}

// dialer returns the release probe's dial function: nil (the default dialer) unless
// --release-probe-dial-to redirects every probe to one address.
func (f *serveFlags) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if f.dialTo == "" {
		return nil
	}
	to := f.dialTo
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, to)
	}
}

// setTargets installs a new target set from the provider and forgets the counters of
// targets that left it.
func (s *stack) setTargets(ts []gate.Target) {
	if err := s.gate.Configure(ts); err != nil { // not expected: the provider validated every rule
		s.log.Error("target set rejected", "err", err)
		return
	}
	keep := make(map[string]bool, len(ts))
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		keep[t.Rule.Target] = true
		names = append(names, t.Rule.Target)
	}
	s.view.SetTargets(names) // before Forget, so no bridge brings a forgotten target back
	for _, name := range s.tracker.Targets() {
		if !keep[name] {
			s.tracker.Forget(name)
		}
	}
}

func kubeClients(kubeconfig, version string) (kubernetes.Interface, versioned.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, nil, &UsageError{Err: fmt.Errorf("kubernetes client config: %w", err)}
	}
	cfg.UserAgent = "wakegate/" + version
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	kd, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("keda client: %w", err)
	}
	return kc, kd, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
