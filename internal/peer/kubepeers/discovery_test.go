package kubepeers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"
)

func TestNewErrors(t *testing.T) {
	t.Parallel()
	kube, peers := k8sfake.NewClientset(), newSetter()
	for _, tt := range []struct {
		name string
		opts Options
		want []string
	}{
		{name: "nothing", want: []string{"Kube and Peers are required", `Options.Namespace ""`, `Options.Service ""`}},
		{name: "bad names", opts: Options{Kube: kube, Peers: peers, Namespace: "wakegate", Service: "Wakegate_Peers"},
			want: []string{`Options.Service "Wakegate_Peers"`}},
		{name: "bad port", opts: Options{Kube: kube, Peers: peers, Namespace: "wakegate", Service: "p", Port: 70000},
			want: []string{"Options.Port 70000"}},
	} {
		_, err := New(tt.opts)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: New error %v, want it to contain %q", tt.name, err, w)
			}
		}
	}
}

// running is a Discovery whose Run runs until stop.
type running struct {
	d    *Discovery
	done chan error
	stop context.CancelFunc
}

func start(t *testing.T, opts Options) *running {
	t.Helper()
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if d.Synced() {
		t.Fatal("Synced before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, done: make(chan error, 1), stop: cancel}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// TestDiscovery drives a Discovery over a fake clientset through the life of a peer
// Service's EndpointSlices: the first listing, slices added, changed and deleted, changes
// that leave the list alone, and slices of other Services.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	ports := []discoveryv1.EndpointPort{port("grpc-peer", 9091)}
	kube := k8sfake.NewClientset(
		slice("peers-1", "wakegate-peers", ports, ready("10.0.0.1", "wakegate-a"), ready("10.0.0.2", "wakegate-b")),
		slice("other-1", "web", ports, ready("10.0.0.9", "web-1")),
	)
	peers := newSetter()
	r := start(t, Options{Kube: kube, Namespace: "wakegate", Service: "wakegate-peers", Self: "wakegate-a",
		Static: []string{"static.example:9091"}, DialMap: map[string]string{"10.0.0.2:9091": "127.0.0.1:2002"}, Peers: peers})
	slices := kube.DiscoveryV1().EndpointSlices("wakegate")

	check := func(what string, want ...string) {
		t.Helper()
		if diff := cmp.Diff(want, peers.next(t, what)); diff != "" {
			t.Fatalf("%s: peer list (-want +got):\n%s", what, diff)
		}
	}
	check("first listing: b mapped, this replica and Service web left out", "static.example:9091", "127.0.0.1:2002")
	if !r.d.Synced() {
		t.Error("Synced is false after the first list was pushed")
	}

	apply := func(s *discoveryv1.EndpointSlice, create bool) {
		t.Helper()
		var err error
		if create {
			_, err = slices.Create(t.Context(), s, metav1.CreateOptions{})
		} else {
			_, err = slices.Update(t.Context(), s, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	apply(slice("peers-2", "wakegate-peers", ports, ready("10.0.0.4", "wakegate-d"), ready("10.0.0.3", "wakegate-c")), true)
	check("a second slice", "static.example:9091", "10.0.0.3:9091", "10.0.0.4:9091", "127.0.0.1:2002")

	// Neither of these changes the list; the change after them shows that neither pushed.
	apply(slice("other-1", "web", ports, ready("10.0.0.8", "web-2")), false)
	apply(slice("peers-1", "wakegate-peers", ports, ready("10.0.0.2", "wakegate-b"), ready("10.0.0.1", "wakegate-a"),
		endpoint{addr: "10.0.0.7", pod: "wakegate-e", ready: ptr(false)}), false)
	apply(slice("peers-2", "wakegate-peers", ports, ready("10.0.0.4", "wakegate-d"),
		endpoint{addr: "10.0.0.3", pod: "wakegate-c", ready: ptr(false)}), false)
	check("c not ready", "static.example:9091", "10.0.0.4:9091", "127.0.0.1:2002")

	if err := slices.Delete(t.Context(), "peers-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("peers-1 deleted", "static.example:9091", "10.0.0.4:9091")
	if err := slices.Delete(t.Context(), "peers-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("every slice deleted: the static peers remain", "static.example:9091")

	if err := r.d.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run = %v, want an error", err)
	}
	r.stop()
	if err := <-r.done; err != nil {
		t.Errorf("Run = %v after ctx ended, want nil", err)
	}
	r.done <- nil // for the Cleanup
	peers.none(t, "after Run returned")
}

// TestDiscoveryEmpty: a Service without slices yet gives an empty list (the static peers)
// once listed, so the mesh drops whatever --peers said beyond them.
func TestDiscoveryEmpty(t *testing.T) {
	t.Parallel()
	peers := newSetter()
	start(t, Options{Kube: k8sfake.NewClientset(), Namespace: "wakegate", Service: "wakegate-peers", Peers: peers})
	if got := peers.next(t, "first listing"); len(got) != 0 {
		t.Errorf("first list = %q, want empty", got)
	}
}

// TestDiscoveryStopsBeforeSync: Run returns nil when ctx ends while it still waits for the
// first listing (the apiserver refuses to list), and pushes nothing.
func TestDiscoveryStopsBeforeSync(t *testing.T) {
	t.Parallel()
	kube := k8sfake.NewClientset()
	listed := make(chan struct{}, 1)
	kube.PrependReactor("list", "endpointslices", func(ktesting.Action) (bool, runtime.Object, error) {
		select {
		case listed <- struct{}{}:
		default:
		}
		return true, nil, apierrors.NewForbidden(discoveryv1.Resource("endpointslices"), "", errors.New("no RBAC"))
	})
	peers := newSetter()
	r := start(t, Options{Kube: kube, Namespace: "wakegate", Service: "wakegate-peers", Peers: peers})
	select {
	case <-listed:
	case <-time.After(eventTimeout):
		t.Fatal("the informer never tried to list")
	}
	r.stop()
	if err := <-r.done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	r.done <- nil
	peers.none(t, "never listed")
	if r.d.Synced() {
		t.Error("Synced although nothing was listed")
	}
}
