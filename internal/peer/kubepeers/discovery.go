package kubepeers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/wakegate/wakegate/internal/peer"
)

// DefaultPortName is the EndpointSlice port name the peer port is looked up by.
const DefaultPortName = "grpc-peer"

// PeerSetter takes the current list of peer addresses. Implementations must be safe for
// concurrent use; *peer.Mesh is the one wakegate uses.
type PeerSetter interface {
	SetPeers(addrs []string) error
}

var _ PeerSetter = (*peer.Mesh)(nil)

// Options configure a Discovery. Kube, Namespace, Service and Peers are required.
type Options struct {
	Kube      kubernetes.Interface // lists and watches EndpointSlices
	Namespace string               // wakegate's own namespace, where Service lives
	Service   string               // the headless Service whose endpoints are the replicas
	// PortName is the EndpointSlice port that carries the peer protocol; DefaultPortName if "".
	PortName string
	// Port is used for a slice without a port named PortName (the port of --peer-addr);
	// 0 means such a slice contributes no peers (a warning is logged).
	Port int32
	// Self is this replica's pod name: the endpoint whose targetRef names it is left out.
	// "" leaves every endpoint in (the mesh still skips this replica by its replica id).
	Self string
	// Static are addresses always in the list (--peers), before the discovered ones.
	Static []string
	// DialMap replaces a discovered address (key) by another (value) in the list. Testing
	// only: pod addresses cannot be reached from a test, loopback stand-ins can.
	DialMap map[string]string
	Peers   PeerSetter   // receives the list after the first listing and at every change
	Logger  *slog.Logger // nil: discard
}

// Discovery keeps a PeerSetter's list equal to the replicas that the EndpointSlices of a
// headless Service name (see the package documentation for which endpoints count). It is
// safe for concurrent use; its informer runs while Run runs.
type Discovery struct {
	opts   Options
	log    *slog.Logger
	ran    atomic.Bool
	synced atomic.Bool // the first listing is done and was pushed

	mu     sync.Mutex
	slices map[string][]string // slice name → its peer addresses
	listed bool                // the first listing is done: changes are pushed
	pushed bool                // last holds a list Peers took
	last   []string            // the list last given to Peers
}

// New returns a Discovery over opts; the error names the missing or invalid option.
func New(opts Options) (*Discovery, error) {
	var errs []error
	if opts.Kube == nil || opts.Peers == nil {
		errs = append(errs, errors.New("kubepeers: Options.Kube and Peers are required"))
	}
	for _, f := range []struct{ name, v string }{{"Namespace", opts.Namespace}, {"Service", opts.Service}} {
		for _, msg := range validation.IsDNS1123Label(f.v) {
			errs = append(errs, fmt.Errorf("kubepeers: Options.%s %q: %s", f.name, f.v, msg))
		}
	}
	if opts.Port < 0 || opts.Port > 65535 {
		errs = append(errs, fmt.Errorf("kubepeers: Options.Port %d: want 0..65535", opts.Port))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.PortName == "" {
		opts.PortName = DefaultPortName
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("peerService", opts.Namespace+"/"+opts.Service)
	return &Discovery{opts: opts, log: log, slices: map[string][]string{}}, nil
}

// Synced reports whether the first listing is done and its peers were pushed.
func (d *Discovery) Synced() bool { return d.synced.Load() }

// Run watches the Service's EndpointSlices until ctx is cancelled, then stops the informer,
// waits for its goroutines and returns nil. It returns an error at once if called twice.
func (d *Discovery) Run(ctx context.Context) error {
	if !d.ran.CompareAndSwap(false, true) {
		return errors.New("kubepeers: Run called twice")
	}
	f := informers.NewSharedInformerFactoryWithOptions(d.opts.Kube, 0, informers.WithNamespace(d.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + d.opts.Service
		}))
	defer f.Shutdown()
	inf := f.Discovery().V1().EndpointSlices().Informer()
	if err := inf.SetTransform(stripManagedFields); err != nil {
		return fmt.Errorf("kubepeers: %w", err)
	}
	reg, err := inf.AddEventHandler(d.handler())
	if err != nil {
		return fmt.Errorf("kubepeers: %w", err)
	}
	f.Start(ctx.Done())
	d.log.Info("peer discovery: waiting for the EndpointSlices to list")
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil // ctx ended first
	}
	d.mu.Lock()
	d.listed = true
	d.pushLocked()
	d.mu.Unlock()
	d.synced.Store(true)
	<-ctx.Done()
	return nil
}

func (d *Discovery) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.put(obj) },
		UpdateFunc: func(_, obj any) { d.put(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && d.ours(s) {
				d.mu.Lock()
				delete(d.slices, s.Name)
				d.pushIfListedLocked()
				d.mu.Unlock()
			}
		},
	}
}

// put records the peers of an added or updated slice.
func (d *Discovery) put(obj any) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || !d.ours(s) {
		return
	}
	addrs, err := peerAddrs(s, addrOptions{portName: d.opts.PortName, port: d.opts.Port, self: d.opts.Self})
	if err != nil {
		d.log.Warn("peer discovery: EndpointSlice contributes no peers", "slice", s.Name, "err", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.slices[s.Name] = addrs
	d.pushIfListedLocked()
}

// ours reports whether s belongs to the peer Service. The informer's label selector
// already says so; a watch that ignores it (client-go's fake clientset) must not add peers.
func (d *Discovery) ours(s *discoveryv1.EndpointSlice) bool {
	return s.Labels[discoveryv1.LabelServiceName] == d.opts.Service
}

// pushIfListedLocked pushes the list once the first listing is done (Run pushes that one).
func (d *Discovery) pushIfListedLocked() {
	if d.listed {
		d.pushLocked()
	}
}

// pushLocked gives Peers the static addresses and the discovered ones (deduplicated,
// sorted, mapped through DialMap) if they differ from the last list pushed.
func (d *Discovery) pushLocked() {
	var found []string
	for _, addrs := range d.slices {
		for _, a := range addrs {
			if to, ok := d.opts.DialMap[a]; ok {
				a = to
			}
			found = append(found, a)
		}
	}
	slices.Sort(found)
	list := make([]string, 0, len(d.opts.Static)+len(found)) // never nil: logged as [], not null
	list = append(append(list, d.opts.Static...), slices.Compact(found)...)
	if d.pushed && slices.Equal(list, d.last) {
		return
	}
	if err := d.opts.Peers.SetPeers(list); err != nil {
		d.log.Error("peer discovery: peer list rejected", "peers", list, "err", err)
		return
	}
	if d.pushed {
		d.log.Info("peer discovery: peer list changed", "peers", list, "was", d.last)
	} else {
		d.log.Info("peer discovery: first peer list", "peers", list)
	}
	d.last, d.pushed = list, true
}

// stripManagedFields drops managedFields before slices enter the informer's cache.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
