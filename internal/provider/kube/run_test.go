package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktesting "k8s.io/client-go/testing"
)

// running is a fixture whose Run is started with informers over the fake clientsets.
type running struct {
	*fixture
	cancel context.CancelFunc
	done   chan error
}

// startRun starts Run after creating initial and waits until the informers watch.
// The test's cleanup stops Run and checks it returned nil.
func startRun(t *testing.T, opts Options, initial ...*kedav1alpha1.ScaledObject) *running {
	t.Helper()
	return startRunWith(t, opts, func(*fixture) {}, initial...)
}

// startRunWith is startRun with a hook to adjust the fixture before Run.
func startRunWith(t *testing.T, opts Options, hook func(*fixture), initial ...*kedav1alpha1.ScaledObject) *running {
	t.Helper()
	f := newFixture(t, opts)
	hook(f)
	watches := make(chan string, 64)
	watchSignal(&f.kube.Fake, f.kube.Tracker(), watches)
	watchSignal(&f.keda.Fake, f.keda.Tracker(), watches)
	for _, so := range initial {
		if _, err := f.keda.KedaV1alpha1().ScaledObjects(so.Namespace).Create(t.Context(), so, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{fixture: f, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- f.p.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(t); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	want := 2 * len(f.p.opts.Namespaces)
	for range want {
		select {
		case <-watches:
		case <-time.After(eventTimeout):
			t.Fatal("informers did not start watching")
		}
	}
	return r
}

func (r *running) stop(t *testing.T) error {
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for a second stop
		return err
	case <-time.After(eventTimeout):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (r *running) nextTargets(t *testing.T) []string {
	t.Helper()
	select {
	case ts := <-r.targets.ch:
		return names(ts)
	case <-time.After(eventTimeout):
		t.Fatal("timed out waiting for OnTargets")
		return nil
	}
}

func TestRunFollowsTheCluster(t *testing.T) {
	r := startRun(t, Options{}, scaledObject("ns", "a", 0, routingMD("a.example.com", "svc-a")))
	if got := r.nextTargets(t); !cmp.Equal(got, []string{"ns/a"}) {
		t.Fatalf("initial targets = %v", got)
	}
	wctx, cancel := context.WithTimeout(t.Context(), eventTimeout)
	defer cancel()
	if err := r.p.WaitSynced(wctx); err != nil || !r.p.Synced() {
		t.Errorf("WaitSynced: %v; Synced %v", err, r.p.Synced())
	}
	ctx := t.Context()
	so := r.keda.KedaV1alpha1().ScaledObjects("ns")
	if _, err := so.Create(ctx, scaledObject("ns", "b", time.Second, routingMD("b.example.com", "svc-b")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := r.nextTargets(t); !cmp.Equal(got, []string{"ns/a", "ns/b"}) {
		t.Fatalf("targets after create = %v", got)
	}

	// Readiness from EndpointSlices, pushed by the watch.
	_, changed := r.p.Ready("ns/b")
	slices := r.kube.DiscoveryV1().EndpointSlices("ns")
	s := endpointSlice("ns", "svc-b-x1", "svc-b", []discoveryPort{port("http", 80)}, ep("10.0.0.1", nil))
	if _, err := slices.Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, changed, "ns/b to become ready")
	ready, changed := r.p.Ready("ns/b")
	if !ready {
		t.Fatal("ns/b not ready")
	}
	s.Endpoints[0].Conditions.Ready = ptr(false)
	if _, err := slices.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, changed, "ns/b to turn not ready")
	if ready, _ := r.p.Ready("ns/b"); ready {
		t.Fatal("ns/b still ready")
	}

	// Delete: the target goes away.
	if err := so.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := r.nextTargets(t); !cmp.Equal(got, []string{"ns/b"}) {
		t.Fatalf("targets after delete = %v", got)
	}
}

func TestRunRecordsEvents(t *testing.T) {
	r := startRun(t, Options{},
		scaledObject("ns", "old", 0, routingMD("x.example.com", "svc")),
		scaledObject("ns", "new", time.Minute, routingMD("x.example.com", "svc")),
		scaledObject("ns", "bad", 0, routingMD("y.example.com", "svc", KeyWaitingPage, "sometimes")))
	if got := r.nextTargets(t); !cmp.Equal(got, []string{"ns/old"}) {
		t.Fatalf("targets = %v", got)
	}
	// Events come from the same rebuild, before OnTargets.
	evs := r.events()
	if len(evs) != 2 || !strings.Contains(evs[0], `"waitingPage": "sometimes"`) || !strings.Contains(evs[1], "ns/old") {
		t.Errorf("events = %q", evs)
	}
}

func TestRunNamespaces(t *testing.T) {
	r := startRun(t, Options{Namespaces: []string{"b", "a", "b"}},
		scaledObject("a", "x", 0, routingMD("a.example.com", "svc")),
		scaledObject("b", "x", 0, routingMD("b.example.com", "svc")),
		scaledObject("c", "x", 0, routingMD("c.example.com", "svc")))
	if got := r.nextTargets(t); !cmp.Equal(got, []string{"a/x", "b/x"}) {
		t.Fatalf("targets = %v, want the watched namespaces only", got)
	}
}

func TestRunIgnoresSlicesWithoutService(t *testing.T) {
	r := startRun(t, Options{}, scaledObject("ns", "a", 0, routingMD("a.example.com", "svc")))
	r.nextTargets(t)
	ctx := t.Context()
	stray := endpointSlice("ns", "stray", "", nil, ep("10.0.0.1", nil))
	stray.Labels["app"] = "svc"
	good := endpointSlice("ns", "svc-1", "svc", nil, ep("10.0.0.2", nil))
	_, changed := r.p.Ready("ns/a")
	for _, s := range []*discoveryv1.EndpointSlice{stray, good} {
		if _, err := r.kube.DiscoveryV1().EndpointSlices("ns").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitClosed(t, changed, "ns/a to become ready")
	if st := r.p.Status(); st[0].Endpoints != 1 {
		t.Errorf("Status = %+v, want only the Service's endpoint counted", st)
	}
}

func TestRunStopsBeforeSync(t *testing.T) {
	f := newFixture(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if f.p.Synced() {
		t.Error("Synced after a Run that never listed")
	}
	if err := f.p.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}

// TestRunOwnRecorder runs without Options.Recorder: Events go to the API as core/v1
// Events, and everything Run started is gone once it returns.
func TestRunOwnRecorder(t *testing.T) {
	defer goleak.VerifyNone(t, append(leakOpts, goleak.IgnoreCurrent())...)
	created := make(chan *corev1.Event, 10)
	r := startRunWith(t, Options{}, func(f *fixture) {
		f.p.rec = nil
		f.kube.PrependReactor("create", "events", func(a ktesting.Action) (bool, runtime.Object, error) {
			created <- a.(ktesting.CreateAction).GetObject().(*corev1.Event)
			return false, nil, nil
		})
	}, scaledObject("ns", "bad", 0, routingMD("bad host", "svc")))
	select {
	case ev := <-created:
		if ev.Type != corev1.EventTypeWarning || ev.Reason != ReasonInvalidMetadata || ev.InvolvedObject.Kind != "ScaledObject" ||
			ev.InvolvedObject.Name != "bad" || ev.Namespace != "ns" || !strings.Contains(ev.Message, `"hosts": "bad host"`) {
			t.Errorf("event = %+v", ev)
		}
	case <-time.After(eventTimeout):
		t.Fatal("no Event created")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
