package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kedacore/keda/v2/pkg/generated/clientset/versioned"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/peer/kubepeers"
	"github.com/wakegate/wakegate/internal/provider/kube"
)

// serveFlags are `wakegate serve`'s own flags.
type serveFlags struct {
	kubeconfig, namespaces, releaseProbe string
	probeBudget                          time.Duration
	directWake                           bool
	dialTo                               string // testing: every release probe dials this address
	// Peer discovery: the endpoints of a headless Service are the other replicas.
	peerService, peerNamespace string
	peerDialMap                string // testing: discovered peer address → address dialed
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig `file`; empty: $KUBECONFIG, ~/.kube/config, then in-cluster")
	fs.StringVar(&f.namespaces, "namespaces", "", "comma-separated `namespaces` to watch; empty: all")
	fs.StringVar(&f.releaseProbe, "release-probe", "tcp", "connect to a ready endpoint before releasing held requests: tcp or none")
	fs.DurationVar(&f.probeBudget, "release-probe-budget", kube.DefaultProbeBudget, "longest the release probe may delay a release")
	fs.StringVar(&f.dialTo, "release-probe-dial-to", "",
		"testing only: dial this `host:port` instead of the endpoint's address in the release probe (pods on loopback)")
	fs.BoolVar(&f.directWake, "direct-wake", false, "also scale the workload from 0 to 1 directly (KEDA keeps owning replica counts)")
	fs.StringVar(&f.peerService, "peer-service", "",
		"headless `Service` whose ready endpoints are the other replicas (their port grpc-peer, else --peer-addr's); empty: --peers only")
	fs.StringVar(&f.peerNamespace, "peer-namespace", os.Getenv("POD_NAMESPACE"), "`namespace` of --peer-service (default $POD_NAMESPACE)")
	fs.StringVar(&f.peerDialMap, "peer-dial-map", "",
		"testing only: `from=to,...`: dial host:port to whenever a discovered peer address is from (pods on loopback)")
}

// validatePeers checks the peer discovery flags.
func (f *serveFlags) validatePeers() []error {
	if f.peerService == "" {
		if f.peerDialMap != "" {
			return []error{errors.New("--peer-dial-map needs --peer-service")}
		}
		return nil
	}
	var errs []error
	if f.peerNamespace == "" {
		errs = append(errs, errors.New("--peer-namespace (or $POD_NAMESPACE) is required with --peer-service"))
	}
	for _, n := range []struct{ flag, v string }{{"--peer-service", f.peerService}, {"--peer-namespace", f.peerNamespace}} {
		if msgs := validation.IsDNS1123Label(n.v); n.v != "" && len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: %s", n.flag, n.v, strings.Join(msgs, "; ")))
		}
	}
	if _, err := kubepeers.ParseDialMap(f.peerDialMap); err != nil {
		errs = append(errs, fmt.Errorf("--peer-dial-map: %w", err))
	}
	return errs
}

// peerDiscovery returns the discovery of the other replicas through --peer-service's
// EndpointSlices, feeding peers, or nil without --peer-service. Call validatePeers first.
func (f *serveFlags) peerDiscovery(kc kubernetes.Interface, o ServerOptions, log *slog.Logger, peers kubepeers.PeerSetter) (*kubepeers.Discovery, error) {
	if f.peerService == "" {
		return nil, nil
	}
	dm, err := kubepeers.ParseDialMap(f.peerDialMap)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("--peer-dial-map: %w", err)}
	}
	return kubepeers.New(kubepeers.Options{Kube: kc, Namespace: f.peerNamespace, Service: f.peerService,
		Port: listenPort(o.PeerAddr), Self: o.ReplicaID, Static: splitList(o.Peers), DialMap: dm, Peers: peers, Logger: log})
}

// listenPort is the port number of a listen address, or 0 if it has none.
func listenPort(addr string) int32 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0
	}
	return int32(n)
}

// setPeersFunc adapts a function to kubepeers.PeerSetter.
type setPeersFunc func(addrs []string) error

func (f setPeersFunc) SetPeers(addrs []string) error { return f(addrs) }

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
	errs = append(errs, sf.validatePeers()...)
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
	// s.mesh exists before s.run starts disc.Run, the only caller of SetPeers.
	disc, err := sf.peerDiscovery(kc, o, log, setPeersFunc(func(a []string) error { return s.mesh.SetPeers(a) }))
	if err != nil {
		return err
	}
	s, err = newStack(stackConfig{Options: o, Logger: log, Tracker: tracker, Provider: prov, Resolver: prov.Resolver()})
	if err != nil {
		return err
	}
	s.infra = append(s.infra, prov.Run)
	s.probes.requireReady("kubernetes informers synced", prov.Synced)
	if disc != nil {
		s.infra = append(s.infra, disc.Run)
		s.probes.requireReady("peer discovery synced", disc.Synced)
	}
	log.Info("starting", "mode", "kubernetes", "namespaces", sf.namespaces, "directWake", sf.directWake,
		"peerService", sf.peerService, "peerNamespace", sf.peerNamespace, "version", env.Version)
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
