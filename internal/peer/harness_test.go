package peer

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/wakegate/wakegate/internal/activity"
)

const (
	meshStaleness = time.Second
	meshHeartbeat = 100 * time.Millisecond
)

// ended is a subscription's end, as the Mesh test hook reports it.
type ended struct {
	addr string
	err  error
}

// replica is one in-process wakegate replica: a Tracker, a View, a peer Server on
// 127.0.0.1 and a Mesh. stop ends it abruptly (no goodbye); the test's Cleanup stops
// whatever is left.
type replica struct {
	id      string
	tr      *activity.Tracker
	view    *View
	metrics *Metrics
	srv     *Server
	gs      *grpc.Server
	ln      net.Listener
	mesh    *Mesh
	ended   chan ended
	stopped func()
}

func newReplica(t *testing.T, id string) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{id: id, tr: activity.New(0), ln: ln, ended: make(chan ended, 1024)}
	if r.metrics, err = NewMetrics(nil); err != nil {
		t.Fatal(err)
	}
	if r.view, err = NewView(ViewOptions{Tracker: r.tr, Staleness: meshStaleness, Metrics: r.metrics}); err != nil {
		t.Fatal(err)
	}
	r.srv, err = NewServer(ServerOptions{ReplicaID: id, Tracker: r.tr, Edges: r.view, Heartbeat: meshHeartbeat, Metrics: r.metrics})
	if err != nil {
		t.Fatal(err)
	}
	r.gs = grpc.NewServer()
	r.srv.Register(r.gs)
	return r
}

func (r *replica) addr() string { return r.ln.Addr().String() }

// start serves and follows peers until stop (or the test's end).
func (r *replica) start(t *testing.T, peers []string) {
	t.Helper()
	var err error
	r.mesh, err = NewMesh(MeshOptions{ReplicaID: r.id, View: r.view, Peers: peers,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.mesh.ended = func(addr string, err error) {
		select {
		case r.ended <- ended{addr, err}:
		default:
		}
	}
	r.view.SetTargets([]string{"t", "t2", "r", "c", "warm"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = r.gs.Serve(r.ln) }()
	go func() { defer wg.Done(); _ = r.view.Run(ctx) }()
	go func() { defer wg.Done(); _ = r.mesh.Run(ctx) }()
	var once sync.Once
	r.stopped = func() { once.Do(func() { r.gs.Stop(); cancel(); wg.Wait() }) }
	t.Cleanup(r.stopped)
}

// waitFor waits, on v's Watch channels, until target's merged Stats satisfy cond.
func waitFor(t *testing.T, v *View, target, what string, cond func(activity.Stats) bool) activity.Stats {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s, ch := v.Watch(target)
		if cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s: still %+v after 10s", what, s)
		}
	}
}

// waitEnded waits until r's subscription to addr (any, if "") ends with an error that
// match accepts, and returns that error.
func waitEnded(t *testing.T, r *replica, addr string, match func(error) bool) error {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case e := <-r.ended:
			if (addr == "" || e.addr == addr) && match(e.err) {
				return e.err
			}
		case <-deadline.C:
			t.Fatalf("%s: no matching end of the subscription to %s", r.id, addr)
		}
	}
}
