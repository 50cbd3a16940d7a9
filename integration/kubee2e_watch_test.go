package integration

import (
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// stamp is a value a test observed and when the informer delivered it.
type stamp[T any] struct {
	at time.Time
	v  T
}

// kubeTimeline records, from informers in one namespace, each change of Deployment web's
// spec.replicas and of the number of ready endpoints of Service web. Safe for concurrent
// use; the informers stop when the test ends.
type kubeTimeline struct {
	mu       sync.Mutex
	changed  chan struct{}  // closed and replaced at every recorded change
	replicas []stamp[int32] // Deployment web's spec.replicas, at each change
	ready    []stamp[int]   // ready endpoints of Service web, at each change
	slices   map[string]int // slice name → its ready endpoints
}

// watchTimeline starts the informers for ns and returns once their handlers have seen
// the initial listing.
func (e *kubeEnv) watchTimeline(t *testing.T, ns string) *kubeTimeline {
	t.Helper()
	tl := &kubeTimeline{changed: make(chan struct{}), slices: map[string]int{}}
	f := informers.NewSharedInformerFactoryWithOptions(e.cs, 0, informers.WithNamespace(ns))
	deps, err := f.Apps().V1().Deployments().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { tl.deployment(o) },
		UpdateFunc: func(_, o any) { tl.deployment(o) },
	})
	if err != nil {
		t.Fatal(err)
	}
	slices, err := f.Discovery().V1().EndpointSlices().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { tl.slice(o, false) },
		UpdateFunc: func(_, o any) { tl.slice(o, false) },
		DeleteFunc: func(o any) { tl.slice(o, true) },
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	f.Start(stop)
	t.Cleanup(func() { close(stop); f.Shutdown() })
	if !cache.WaitForCacheSync(deadline(t, 30*time.Second).Done(), deps.HasSynced, slices.HasSynced) {
		t.Fatalf("the Deployment and EndpointSlice informers in %s did not sync", ns)
	}
	return tl
}

func (tl *kubeTimeline) deployment(o any) {
	d, ok := o.(*appsv1.Deployment)
	if !ok || d.Name != "web" || d.Spec.Replicas == nil {
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if n := len(tl.replicas); n == 0 || tl.replicas[n-1].v != *d.Spec.Replicas {
		tl.replicas = append(tl.replicas, stamp[int32]{time.Now(), *d.Spec.Replicas})
		tl.notifyLocked()
	}
}

func (tl *kubeTimeline) slice(o any, gone bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	s, ok := o.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] != "web" {
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if gone {
		delete(tl.slices, s.Name)
	} else {
		tl.slices[s.Name] = readyCount(s)
	}
	sum := 0
	for _, n := range tl.slices {
		sum += n
	}
	if n := len(tl.ready); n == 0 || tl.ready[n-1].v != sum {
		tl.ready = append(tl.ready, stamp[int]{time.Now(), sum})
		tl.notifyLocked()
	}
}

// readyCount counts the endpoints of s whose ready condition is not false.
func readyCount(s *discoveryv1.EndpointSlice) int {
	n := 0
	for _, ep := range s.Endpoints {
		if len(ep.Addresses) > 0 && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
			n++
		}
	}
	return n
}

func (tl *kubeTimeline) notifyLocked() {
	close(tl.changed)
	tl.changed = make(chan struct{})
}

// await waits until cond, called with the timeline locked, holds, failing t after d.
func (tl *kubeTimeline) await(t testing.TB, d time.Duration, what string, cond func(*kubeTimeline) bool) {
	t.Helper()
	ctx := deadline(t, d)
	for {
		tl.mu.Lock()
		ok, ch := cond(tl), tl.changed
		tl.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: not within %v (replicas %v, ready endpoints %v)", what, d, tl.replicaValues(), tl.readyValues())
		}
	}
}

// firstReplicas returns when spec.replicas was first seen equal to n at or after since.
func (tl *kubeTimeline) firstReplicas(n int32, since time.Time) (time.Time, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return first(tl.replicas, since, func(v int32) bool { return v == n })
}

// firstReady returns when Service web was first seen with a ready endpoint at or after since.
func (tl *kubeTimeline) firstReady(since time.Time) (time.Time, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return first(tl.ready, since, func(v int) bool { return v > 0 })
}

// maxReplicas returns the highest spec.replicas seen at or after since.
func (tl *kubeTimeline) maxReplicas(since time.Time) int32 {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var m int32
	for i, s := range tl.replicas {
		// A value counts if it was still current at since (the next one came later).
		if i+1 == len(tl.replicas) || tl.replicas[i+1].at.After(since) {
			m = max(m, s.v)
		}
	}
	return m
}

func first[T any](ss []stamp[T], since time.Time, ok func(T) bool) (time.Time, bool) {
	for _, s := range ss {
		if !s.at.Before(since) && ok(s.v) {
			return s.at, true
		}
	}
	return time.Time{}, false
}

func (tl *kubeTimeline) replicaValues() []int32 {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := make([]int32, len(tl.replicas))
	for i, s := range tl.replicas {
		out[i] = s.v
	}
	return out
}

func (tl *kubeTimeline) readyValues() []int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := make([]int, len(tl.ready))
	for i, s := range tl.ready {
		out[i] = s.v
	}
	return out
}
