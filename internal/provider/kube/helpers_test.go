package kube

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	kedafake "github.com/kedacore/keda/v2/pkg/generated/clientset/versioned/fake"
	"go.uber.org/goleak"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/wakegate/wakegate/internal/gate"
)

// eventTimeout bounds every wait for an event; generous so a slow machine does not flake.
const eventTimeout = 20 * time.Second

// klog starts its flush daemon at init; it is not ours to stop.
var leakOpts = []goleak.Option{goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1")}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakOpts...) }

// base is the creation time of the first test ScaledObject; later ones are created after.
var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// scaledObject returns a ScaledObject created at base+age with one external-push trigger
// carrying md (no trigger at all if md is nil).
func scaledObject(ns, name string, age time.Duration, md map[string]string) *kedav1alpha1.ScaledObject {
	so := &kedav1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(base.Add(age)),
			UID: types.UID("uid-" + ns + "-" + name)},
		Spec: kedav1alpha1.ScaledObjectSpec{ScaleTargetRef: &kedav1alpha1.ScaleTarget{Name: name}},
	}
	if md != nil {
		so.Spec.Triggers = []kedav1alpha1.ScaleTriggers{{Type: TriggerType, Metadata: md}}
	}
	return so
}

// routingMD is valid routing metadata for host and service, plus extra keys.
func routingMD(host, service string, extra ...string) map[string]string {
	md := map[string]string{KeyHosts: host, KeyService: service, "scalerAddress": "wakegate:9090"}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	return md
}

func ptr[T any](v T) *T { return &v }

// port is an EndpointSlice TCP port.
func port(name string, num int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(num)}
}

// ep is an endpoint at addr; ready nil leaves the condition unset.
func ep(addr string, ready *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

// endpointSlice returns a slice of svc in ns.
func endpointSlice(ns, name, svc string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: ports, Endpoints: eps,
	}
	if svc != "" {
		s.Labels[discoveryv1.LabelServiceName] = svc
	}
	return s
}

// targetLog records OnTargets calls.
type targetLog struct {
	mu    sync.Mutex
	calls [][]gate.Target
	ch    chan []gate.Target
}

func newTargetLog() *targetLog { return &targetLog{ch: make(chan []gate.Target, 100)} }

func (l *targetLog) record(ts []gate.Target) {
	l.mu.Lock()
	l.calls = append(l.calls, ts)
	l.mu.Unlock()
	l.ch <- ts
}

func (l *targetLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// names lists the target names of ts.
func names(ts []gate.Target) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Rule.Target)
	}
	return out
}

// fixture is a Provider over fake clientsets, driven through its handlers directly.
type fixture struct {
	p       *Provider
	kube    *k8sfake.Clientset
	keda    *kedafake.Clientset
	rec     *record.FakeRecorder
	targets *targetLog
}

// newFixture returns a provider with the release probe off unless opts say otherwise;
// its probes are stopped when the test ends.
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{kube: k8sfake.NewClientset(), keda: kedafake.NewSimpleClientset(), rec: record.NewFakeRecorder(100), targets: newTargetLog()}
	opts.Kube, opts.KEDA, opts.Recorder, opts.OnTargets = f.kube, f.keda, f.rec, f.targets.record
	if opts.ReleaseProbe == "" {
		opts.ReleaseProbe = ProbeNone
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	t.Cleanup(p.shutdown)
	return f
}

// listed marks the initial listing done, as Run does once the informers synced.
func (f *fixture) listed(probing bool) {
	f.p.mu.Lock()
	f.p.probing = probing
	f.p.mu.Unlock()
	f.p.markListed()
}

// events drains the Events recorded so far.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(eventTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// watchSignal makes the watches of a fake clientset report their resource on ch once they
// are established, so a test creates objects only after the informer can see them.
func watchSignal(f *ktesting.Fake, tracker ktesting.ObjectTracker, ch chan<- string) {
	f.PrependWatchReactor("*", func(a ktesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := a.(ktesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := tracker.Watch(a.GetResource(), a.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		ch <- a.GetResource().Resource
		return true, w, nil
	})
}

func background(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

type discoveryPort = discoveryv1.EndpointPort
