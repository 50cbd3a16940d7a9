package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/kedacore/keda/v2/pkg/generated/clientset/versioned"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/wakegate/wakegate/internal/gate"
)

var _ gate.Provider = (*Provider)(nil)

// ErrUnknownTarget is returned (wrapped) by Wake for a name that is not a configured target.
var ErrUnknownTarget = errors.New("unknown target")

// ProbeMode selects the release guard run before a target that turned ready is reported
// ready (see Options.ReleaseProbe).
type ProbeMode string

const (
	ProbeTCP  ProbeMode = "tcp"  // connect to a ready endpoint first (the default)
	ProbeNone ProbeMode = "none" // report ready as soon as an EndpointSlice says so
)

// ParseProbeMode parses "tcp" or "none" ("" means tcp).
func ParseProbeMode(s string) (ProbeMode, error) {
	switch m := ProbeMode(s); m {
	case "", ProbeTCP:
		return ProbeTCP, nil
	case ProbeNone:
		return m, nil
	}
	return "", fmt.Errorf("release probe %q: want tcp or none", s)
}

// DefaultProbeBudget bounds the release probe of one readiness transition.
const DefaultProbeBudget = 2 * time.Second

// EventRecorder records Kubernetes Events; client-go's record.EventRecorder (and its
// FakeRecorder) satisfy it. Implementations must be safe for concurrent use.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// Options configure a Provider. Kube and KEDA are required.
type Options struct {
	Kube kubernetes.Interface // EndpointSlices, Events, and the scale subresource for DirectWake
	KEDA versioned.Interface  // ScaledObjects
	// Namespaces to watch; empty means all namespaces.
	Namespaces []string
	Logger     *slog.Logger // nil: discard
	// Recorder receives Warning Events about ScaledObjects that are left out (bad metadata,
	// route conflicts). nil: Run records them as core/v1 Events through Kube.
	Recorder EventRecorder
	// ReleaseProbe guards the release of held requests: with ProbeTCP ("" too), a target whose
	// EndpointSlices turn ready is reported ready only after a TCP connection to one of its
	// ready endpoints succeeds, or after ProbeBudget (a warning is logged then), so the first
	// request does not meet an app that is not listening yet. Endpoints found ready while
	// the EndpointSlices are first listed are reported ready at once (they were up before
	// wakegate started), and so are endpoints without a port to connect to.
	ReleaseProbe ProbeMode
	ProbeBudget  time.Duration // 0: DefaultProbeBudget
	// Dial opens the probe's connections; nil: a net.Dialer. Tests and the loopback
	// harness map pod addresses to loopback listeners here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DirectWake makes Wake lift the ScaledObject's workload from 0 to 1 replica itself
	// instead of leaving the wake to KEDA's push.
	DirectWake bool
	// OnTargets is called with the full target set, sorted by name, whenever it changes.
	// Calls come from one goroutine at a time, in order; it should not block for long.
	OnTargets func([]gate.Target)
}

// Provider maps KEDA ScaledObjects to gate targets and reports their readiness from the
// EndpointSlices of their Services. It is safe for concurrent use.
//
// Lifecycle: New, then Run (once) in its own goroutine. Ready and Wake may be called at any
// time; targets appear once Run has listed every ScaledObject. Run owns the informers and
// the release probes and stops them all before it returns.
type Provider struct {
	opts Options
	log  *slog.Logger
	rec  EventRecorder // nil until Run when Options.Recorder is nil

	ctx    context.Context // done when Run returns; bounds release probes
	cancel context.CancelFunc
	wg     sync.WaitGroup // release probes

	targets atomic.Pointer[map[string]*target] // immutable map, replaced by rebuild
	setCh   atomic.Pointer[chan struct{}]      // closed when the target set changes
	synced  chan struct{}                      // closed once the first target set is built
	ran     atomic.Bool

	cfgMu sync.Mutex // serialises rebuilds, with their Events and OnTargets calls

	mu       sync.Mutex // guards the fields below and every target's mutable fields
	objects  map[string]*kedav1alpha1.ScaledObject
	slices   map[string]map[string]*discoveryv1.EndpointSlice // service key → slice name → slice
	sliceSvc map[string]string                                // "ns/slice" → service key
	bySvc    map[string][]*target                             // service key → targets using it
	listed   bool                                             // every ScaledObject listed: rebuild on events
	probing  bool                                             // EndpointSlices listed: probe new transitions
	lastSet  []gate.Target
	problems map[string]string // ScaledObject key → message of the Event last recorded for it
}

// New checks opts and returns a Provider with no targets.
func New(opts Options) (*Provider, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.ReleaseProbe, _ = ParseProbeMode(string(opts.ReleaseProbe))
	if opts.ProbeBudget == 0 {
		opts.ProbeBudget = DefaultProbeBudget
	}
	if opts.Dial == nil {
		opts.Dial = (&net.Dialer{}).DialContext
	}
	opts.Namespaces = normalizeNamespaces(opts.Namespaces)
	ctx, cancel := context.WithCancel(context.Background())
	p := &Provider{opts: opts, log: opts.Logger, rec: opts.Recorder, ctx: ctx, cancel: cancel, synced: make(chan struct{}),
		objects: map[string]*kedav1alpha1.ScaledObject{}, slices: map[string]map[string]*discoveryv1.EndpointSlice{},
		sliceSvc: map[string]string{}, bySvc: map[string][]*target{}, problems: map[string]string{}}
	p.targets.Store(&map[string]*target{})
	ch := make(chan struct{})
	p.setCh.Store(&ch)
	return p, nil
}

func (o Options) validate() error {
	var errs []error
	if o.Kube == nil || o.KEDA == nil {
		errs = append(errs, errors.New("the Kube and KEDA clients are required"))
	}
	if _, err := ParseProbeMode(string(o.ReleaseProbe)); err != nil {
		errs = append(errs, err)
	}
	if o.ProbeBudget < 0 {
		errs = append(errs, fmt.Errorf("probe budget %s: must not be negative", o.ProbeBudget))
	}
	for _, ns := range o.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("namespace %q: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kube provider: %w", err)
	}
	return nil
}

// normalizeNamespaces sorts and dedupes ns; no namespace means all ("").
func normalizeNamespaces(ns []string) []string {
	if len(ns) == 0 {
		return []string{""}
	}
	return slices.Compact(slices.Sorted(slices.Values(ns)))
}

// Ready reports whether target has a ready endpoint (that passed the release probe), and
// returns a channel closed at its next change. The snapshot is immutable: the channel is
// closed, never sent on, and replaced by a new one at each change. An unknown (or just
// removed) target is not ready; its channel is closed when the target set next changes.
func (p *Provider) Ready(name string) (bool, <-chan struct{}) {
	if t := (*p.targets.Load())[name]; t != nil {
		s := t.snap.Load()
		return s.ready, s.changed
	}
	return false, *p.setCh.Load()
}

// Synced reports whether Run has listed every ScaledObject and EndpointSlice and built the
// first target set, OnTargets included (for /readyz).
func (p *Provider) Synced() bool {
	select {
	case <-p.synced:
		return true
	default:
		return false
	}
}

// WaitSynced waits until Synced is true (nil) or ctx ends (its error).
func (p *Provider) WaitSynced(ctx context.Context) error {
	select {
	case <-p.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TargetStatus is a point-in-time view of one target, for /status.
type TargetStatus struct {
	Name      string // "namespace/name" of the ScaledObject
	Service   string
	Port      string // "" means any port
	Ready     bool   // what Ready reports
	Probing   bool   // endpoints are ready and the release probe is running
	Endpoints int    // ready endpoints serving the port
}

// Status lists the targets in name order.
func (p *Provider) Status() []TargetStatus {
	m := *p.targets.Load()
	out := make([]TargetStatus, 0, len(m))
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, t := range m {
		out = append(out, TargetStatus{Name: name, Service: t.routing.Service, Port: t.routing.Port,
			Ready: t.snap.Load().ready, Probing: t.probe != nil, Endpoints: t.view.count})
	}
	slices.SortFunc(out, func(a, b TargetStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// lookup returns the configured target named name, or nil.
func (p *Provider) lookup(name string) *target { return (*p.targets.Load())[name] }

// shutdown stops the release probes and waits for them.
func (p *Provider) shutdown() {
	p.cancel()
	p.wg.Wait()
}
