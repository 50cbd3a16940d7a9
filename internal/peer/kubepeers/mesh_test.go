package kubepeers

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"google.golang.org/grpc"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/peer"
)

// replica is an in-process wakegate replica: its counts, merged view, peer server on
// 127.0.0.1 and mesh. Everything stops when the test ends.
type replica struct {
	id   string
	tr   *activity.Tracker
	view *peer.View
	mesh *peer.Mesh
	addr string
}

func newReplica(t *testing.T, id string, log *slog.Logger) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{id: id, tr: activity.New(0)}
	var err error
	if r.view, err = peer.NewView(peer.ViewOptions{Tracker: r.tr}); err != nil {
		t.Fatal(err)
	}
	r.view.SetTargets([]string{"t"})
	srv, err := peer.NewServer(peer.ServerOptions{ReplicaID: id, Tracker: r.tr, Edges: r.view})
	if err != nil {
		t.Fatal(err)
	}
	if r.mesh, err = peer.NewMesh(peer.MeshOptions{ReplicaID: id, View: r.view, Logger: log,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	gs := grpc.NewServer()
	srv.Register(gs)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = gs.Serve(ln) }()
	go func() { defer wg.Done(); _ = r.view.Run(ctx) }()
	go func() { defer wg.Done(); _ = r.mesh.Run(ctx) }()
	t.Cleanup(func() { gs.Stop(); cancel(); wg.Wait() })
	return r
}

// recorder is a PeerSetter that delivers each list to a Mesh and to a channel.
type recorder struct {
	*setter
	mesh *peer.Mesh
}

func (r recorder) SetPeers(addrs []string) error {
	if err := r.mesh.SetPeers(addrs); err != nil {
		return err
	}
	return r.setter.SetPeers(addrs)
}

// TestSelfInSlice: the peer Service's slice lists both replicas, as in a cluster. Replica
// a leaves its own endpoint (targetRef wakegate-a) out of its mesh's list, follows b, and
// sees b's counts. A second address reaching a itself, with no targetRef to tell (a
// replica id that is not the pod name), is subscribed to once and skipped by replica id:
// a's view never has a itself as a peer.
func TestSelfInSlice(t *testing.T) {
	t.Parallel()
	skipped := make(chan string, 10)
	a := newReplica(t, "wakegate-a", slog.New(&msgHandler{match: "own address", ch: skipped}))
	b := newReplica(t, "wakegate-b", nil)

	ports := []discoveryv1.EndpointPort{port("grpc-peer", 9091)}
	kube := k8sfake.NewClientset(slice("wakegate-peers-x1", "wakegate-peers", ports,
		ready("10.244.0.11", "wakegate-a"), ready("10.244.0.12", "wakegate-b"), ready("10.244.0.13", "")))
	lists := newSetter()
	start(t, Options{Kube: kube, Namespace: "wakegate", Service: "wakegate-peers", Self: a.id,
		DialMap: map[string]string{"10.244.0.11:9091": a.addr, "10.244.0.12:9091": b.addr, "10.244.0.13:9091": a.addr},
		Peers:   recorder{setter: lists, mesh: a.mesh}})
	want := []string{a.addr, b.addr} // 10.244.0.13 and 10.244.0.12, mapped and sorted
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, lists.next(t, "first listing")); diff != "" {
		t.Fatalf("a's peer list (-want +got); its targetRef endpoint 10.244.0.11 must be left out:\n%s", diff)
	}

	b.tr.Begin("t")
	deadline := time.After(eventTimeout)
	for {
		s, ch := a.view.Watch("t")
		if s.InFlight == 1 {
			break
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("a never saw b's request in flight: %+v", s)
		}
	}
	select {
	case addr := <-skipped:
		if !strings.Contains(addr, a.addr) {
			t.Errorf("a skipped %s as its own address, want %s", addr, a.addr)
		}
	case <-time.After(eventTimeout):
		t.Fatal("a's mesh never recognised the unlabelled address as a itself")
	}
	if ps := a.view.Peers(); len(ps) != 1 || ps[0].ReplicaID != b.id {
		t.Errorf("a's peers = %+v, want b only", ps)
	}
}

// msgHandler is a slog.Handler that sends the addr attribute of every record whose
// message contains match (logger attributes included).
type msgHandler struct {
	match string
	ch    chan<- string
	attrs []slog.Attr
}

func (h *msgHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *msgHandler) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, h.match) {
		return nil
	}
	var b strings.Builder
	for _, a := range h.attrs {
		b.WriteString(a.String() + " ")
	}
	r.Attrs(func(a slog.Attr) bool { b.WriteString(a.String() + " "); return true })
	select {
	case h.ch <- b.String():
	default:
	}
	return nil
}

func (h *msgHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &msgHandler{match: h.match, ch: h.ch, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *msgHandler) WithGroup(string) slog.Handler { return h }
