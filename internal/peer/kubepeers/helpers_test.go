package kubepeers

import (
	"testing"
	"time"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventTimeout bounds every wait for an event; generous so a slow machine does not flake.
const eventTimeout = 20 * time.Second

// klog starts its flush daemon at init; it is not ours to stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"))
}

func ptr[T any](v T) *T { return &v }

// port is an EndpointSlice TCP port.
func port(name string, num int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(num), Protocol: ptr(corev1.ProtocolTCP)}
}

// endpoint is an endpoint at addr of pod (no targetRef if pod is ""), with the ready and
// terminating conditions given (nil: unset).
type endpoint struct {
	addr, pod          string
	ready, terminating *bool
}

func (e endpoint) api() discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Terminating: e.terminating}}
	if e.addr != "" {
		ep.Addresses = []string{e.addr}
	}
	if e.pod != "" {
		ep.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: "wakegate", Name: e.pod}
	}
	return ep
}

// ready is a ready endpoint of pod at addr.
func ready(addr, pod string) endpoint { return endpoint{addr: addr, pod: pod, ready: ptr(true)} }

// slice is EndpointSlice name of Service svc in namespace wakegate.
func slice(name, svc string, ports []discoveryv1.EndpointPort, eps ...endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "wakegate", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: ports,
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, e.api())
	}
	return s
}

// setter is a PeerSetter that delivers every list it is given; err, if set, is returned
// (after delivering).
type setter struct {
	lists chan []string
	err   error
}

func newSetter() *setter { return &setter{lists: make(chan []string, 100)} }

func (s *setter) SetPeers(addrs []string) error {
	s.lists <- addrs
	return s.err
}

var _ PeerSetter = (*setter)(nil)

// next waits for the next list.
func (s *setter) next(t *testing.T, what string) []string {
	t.Helper()
	select {
	case l := <-s.lists:
		return l
	case <-time.After(eventTimeout):
		t.Fatalf("%s: no peer list within %v", what, eventTimeout)
	}
	return nil
}

// none fails t if a list was given since the last next.
func (s *setter) none(t *testing.T, what string) {
	t.Helper()
	select {
	case l := <-s.lists:
		t.Fatalf("%s: peer list %q pushed, want none", what, l)
	default:
	}
}
