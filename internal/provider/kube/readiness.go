package kube

import (
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// target is one configured ScaledObject. Its published readiness (snap) is read without
// locks; everything else is guarded by Provider.mu.
type target struct {
	name   string // "namespace/name"
	snap   atomic.Pointer[snapshot]
	wakeMu sync.Mutex // serialises direct wakes

	ns      string
	routing Routing
	so      *kedav1alpha1.ScaledObject // from the informer cache: read-only
	view    endpointsView
	probe   *probeRun // the running release probe, or nil
}

// snapshot is an immutable readiness report: changed is closed when it is replaced.
type snapshot struct {
	ready   bool
	changed chan struct{}
}

func newTarget(name string) *target {
	t := &target{name: name}
	t.snap.Store(&snapshot{changed: make(chan struct{})})
	return t
}

// serviceKey is "namespace/service" of t's Service.
func (t *target) serviceKey() string { return t.ns + "/" + t.routing.Service }

// publish replaces t's snapshot with one saying ready (and closes the old one's channel)
// if readiness changed. Callers hold Provider.mu.
func (t *target) publish(ready bool) {
	if old := t.snap.Load(); old.ready != ready {
		t.replace(&snapshot{ready: ready, changed: make(chan struct{})})
	}
}

// replace stores s and closes the previous snapshot's channel. Callers hold Provider.mu.
func (t *target) replace(s *snapshot) {
	old := t.snap.Swap(s)
	close(old.changed)
}

// endpointsView is what a target's Service's EndpointSlices say about it.
type endpointsView struct {
	ready bool
	count int      // ready endpoints serving the target's port
	addrs []string // "host:port" of those endpoints, sorted, for the release probe
}

// viewOf computes a target's view from its Service's slices. A slice counts when it has
// the port (by name or number; any TCP port when port is ""); an endpoint counts when it
// has an address and its ready condition is not false (unset means ready, as the
// EndpointSlice API defines it).
func viewOf(byName map[string]*discoveryv1.EndpointSlice, port string) endpointsView {
	var v endpointsView
	for _, s := range byName {
		num, ok := slicePort(s, port)
		if !ok {
			continue
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 || (ep.Conditions.Ready != nil && !*ep.Conditions.Ready) {
				continue
			}
			v.count++
			if num > 0 {
				v.addrs = append(v.addrs, net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(num))))
			}
		}
	}
	v.ready = v.count > 0
	slices.Sort(v.addrs)
	return v
}

// slicePort finds the port of s that the target uses: the one named port, or numbered
// port, or with port "" the first TCP port. ok is false when port is set and s lacks it;
// num is 0 when s names no number (a slice without ports still counts for port "").
func slicePort(s *discoveryv1.EndpointSlice, port string) (num int32, ok bool) {
	for _, sp := range s.Ports {
		if sp.Protocol != nil && *sp.Protocol != corev1.ProtocolTCP {
			continue
		}
		n := int32(0)
		if sp.Port != nil {
			n = *sp.Port
		}
		name := ""
		if sp.Name != nil {
			name = *sp.Name
		}
		if port == "" || port == name || (n > 0 && port == strconv.Itoa(int(n))) {
			return n, true
		}
	}
	return 0, port == ""
}

// sliceKey and sliceService identify a slice and the Service it belongs to ("" if none).
func sliceKey(s *discoveryv1.EndpointSlice) string { return s.Namespace + "/" + s.Name }

func sliceService(s *discoveryv1.EndpointSlice) string {
	if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
		return s.Namespace + "/" + svc
	}
	return ""
}

// putSlice records an added or updated EndpointSlice and refreshes the targets of its
// Service (and of its previous Service, if its label changed).
func (p *Provider) putSlice(s *discoveryv1.EndpointSlice) {
	svc := sliceService(s)
	if svc == "" {
		p.deleteSlice(s)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := sliceKey(s)
	if prev, ok := p.sliceSvc[key]; ok && prev != svc {
		p.dropSliceLocked(key, prev, s.Name)
	}
	if p.slices[svc] == nil {
		p.slices[svc] = map[string]*discoveryv1.EndpointSlice{}
	}
	p.slices[svc][s.Name] = s
	p.sliceSvc[key] = svc
	p.refreshServiceLocked(svc)
}

// deleteSlice forgets an EndpointSlice and refreshes the targets of its Service.
func (p *Provider) deleteSlice(s *discoveryv1.EndpointSlice) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := sliceKey(s)
	if prev, ok := p.sliceSvc[key]; ok {
		p.dropSliceLocked(key, prev, s.Name)
	}
}

func (p *Provider) dropSliceLocked(key, svc, name string) {
	delete(p.slices[svc], name)
	if len(p.slices[svc]) == 0 {
		delete(p.slices, svc)
	}
	delete(p.sliceSvc, key)
	p.refreshServiceLocked(svc)
}

func (p *Provider) refreshServiceLocked(svc string) {
	for _, t := range p.bySvc[svc] {
		p.refreshLocked(t)
	}
}

// refreshLocked recomputes t's view and publishes the result: not ready at once; ready at
// once, or through the release probe for a transition seen after the initial listing.
func (p *Provider) refreshLocked(t *target) {
	t.view = viewOf(p.slices[t.serviceKey()], t.routing.Port)
	switch cur := t.snap.Load(); {
	case !t.view.ready:
		t.stopProbe()
		t.publish(false)
	case cur.ready || t.probe != nil:
		// Already ready, or the running probe publishes.
	case p.probing && p.opts.ReleaseProbe == ProbeTCP && len(t.view.addrs) > 0:
		p.startProbeLocked(t)
	default:
		t.publish(true)
	}
}
