package app

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/peer"
)

// peerReplica is another wakegate replica as far as the peer protocol goes: a Tracker
// served by a real peer.Server on 127.0.0.1, stopped when the test ends.
type peerReplica struct {
	tr   *activity.Tracker
	srv  *peer.Server
	addr string
}

func startPeerReplica(t *testing.T, id string) *peerReplica {
	t.Helper()
	tr := activity.New(0)
	view, err := peer.NewView(peer.ViewOptions{Tracker: tr})
	if err != nil {
		t.Fatal(err)
	}
	view.SetTargets([]string{"alpha", "beta", "gamma"}) // so local edges wake the server's streams
	srv, err := peer.NewServer(peer.ServerOptions{ReplicaID: id, Tracker: tr, Edges: view})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	srv.Register(gs)
	run(t, func(ctx context.Context) { _ = view.Run(ctx) })
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return &peerReplica{tr: tr, srv: srv, addr: ln.Addr().String()}
}

// follow makes the fixture's view follow the peers at addrs until the test ends.
func (f *adminFixture) follow(t *testing.T, addrs ...string) {
	t.Helper()
	mesh, err := peer.NewMesh(peer.MeshOptions{ReplicaID: "self", View: f.view, Peers: addrs})
	if err != nil {
		t.Fatal(err)
	}
	run(t, func(ctx context.Context) { _ = f.view.Run(ctx) })
	run(t, func(ctx context.Context) { _ = mesh.Run(ctx) })
}

// run runs fn in a goroutine until the test ends, then cancels its context and waits.
func run(t *testing.T, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { fn(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// awaitMerged waits, on the view's Watch channel, until target's merged Stats satisfy cond.
func awaitMerged(t *testing.T, v *peer.View, target, what string, cond func(activity.Stats) bool) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		s, ch := v.Watch(target)
		if cond(s) {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("%s: merged %s still %+v after 10s", what, target, s)
		}
	}
}

// TestStatusMergesPeers: with a peer in the view, each row keeps this replica's own counts
// at the top level and adds the merged counts and the replicas they came from; peers lists
// the peer (live while it reports, not live once silent for two heartbeats, gone after its
// goodbye).
func TestStatusMergesPeers(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	b := startPeerReplica(t, "b")
	b.tr.Begin("gamma") // before the subscription: gamma's first report announces b
	b.tr.End("gamma")
	f.follow(t, b.addr)
	awaitMerged(t, f.view, "gamma", "b's first report", func(s activity.Stats) bool { return s.RequestsTotal == 1 })

	start := time.Now()
	f.prov.setReady("alpha", true)
	f.gate.Finish(f.check(t, "alpha.test"))
	for range 2 {
		b.tr.Begin("alpha")
		b.tr.End("alpha")
	}
	b.tr.Begin("beta")
	b.tr.HoldStart("beta")
	awaitMerged(t, f.view, "alpha", "b's alpha requests", func(s activity.Stats) bool { return s.RequestsTotal == 3 })
	awaitMerged(t, f.view, "beta", "b's held request", func(s activity.Stats) bool { return s.Held == 1 })

	doc := f.statusDoc(t)
	perMinute := func(n float64) float64 { return n / statusRateWindow.Seconds() }
	want := []statusRow{
		{Name: "alpha", State: "ready", Ready: true, RequestsTotal: 1, RequestRate: perMinute(1),
			Merged: counted{RequestsTotal: 3, RequestRate: perMinute(3)}, ReportedBy: []string{"self", "b"}},
		{Name: "beta", State: "idle", Merged: counted{Held: 1, InFlight: 1, RequestsTotal: 1, RequestRate: perMinute(1)},
			ReportedBy: []string{"b"}},
		{Name: "gamma", State: "idle", Merged: counted{RequestsTotal: 1}, ReportedBy: []string{"b"}},
	}
	checkMergedRows(t, doc.Targets, want, start)
	if doc.Replica != "self" {
		t.Errorf("replica %q, want self", doc.Replica)
	}
	checkPeer(t, doc.Peers, b.addr, time.Now())

	// Silent for three heartbeats (as seen at now+3s): still counted, no longer live.
	later := statusSource{Replica: "self", Gate: f.gate, Tracker: f.tr, View: f.view}.build(time.Now().Add(3 * time.Second))
	if len(later.Peers) != 1 || later.Peers[0].Live || time.Duration(later.Peers[0].StaleFor) < 3*time.Second {
		t.Errorf("peers 3s later = %+v, want b not live, staleFor >= 3s", later.Peers)
	}

	b.tr.HoldEnd("beta")
	b.tr.End("beta")
	b.srv.Drain() // goodbye with nothing held: dropped at once
	awaitMerged(t, f.view, "alpha", "b's goodbye", func(s activity.Stats) bool { return s.RequestsTotal == 1 })
	doc = f.statusDoc(t)
	if len(doc.Peers) != 0 {
		t.Errorf("peers after b's goodbye = %+v, want none", doc.Peers)
	}
	if r := doc.Targets[0]; r.Merged.RequestsTotal != 1 || !cmp.Equal(r.ReportedBy, []string{"self"}) {
		t.Errorf("alpha after b's goodbye: merged %+v, reportedBy %v; want this replica's 1 request only", r.Merged, r.ReportedBy)
	}
}

// checkMergedRows is checkRows with rates compared approximately (a sum of per-replica
// rates).
func checkMergedRows(t *testing.T, rows, want []statusRow, start time.Time) {
	t.Helper()
	for i, r := range rows {
		checkLastSeen(t, r.Name, r.LastSeen, r.RequestsTotal, start)
		checkLastSeen(t, r.Name+" merged", r.Merged.LastSeen, r.Merged.RequestsTotal, start.Add(-time.Minute))
		rows[i].LastSeen, rows[i].Merged.LastSeen = nil, nil
	}
	if diff := cmp.Diff(want, rows, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("/status (-want +got):\n%s", diff)
	}
}

// checkPeer checks peers lists exactly b, live, at addr, with b's default staleness.
func checkPeer(t *testing.T, peers []peerRow, addr string, now time.Time) {
	t.Helper()
	if len(peers) != 1 {
		t.Fatalf("peers = %+v, want b only", peers)
	}
	p := peers[0]
	last, err := time.Parse(time.RFC3339Nano, p.LastReport)
	if err != nil || last.After(now) || now.Sub(last) > 10*time.Second {
		t.Errorf("peer lastReport %q (%v): want a recent RFC 3339 time", p.LastReport, err)
	}
	stale, err := time.ParseDuration(p.StaleFor)
	if err != nil || stale < 0 || stale > 10*time.Second {
		t.Errorf("peer staleFor %q (%v): want a duration within the staleness bound", p.StaleFor, err)
	}
	if p.Reports == 0 {
		t.Errorf("peer reports 0, want at least 1")
	}
	p.LastReport, p.StaleFor, p.Reports = "", "", 0
	want := peerRow{Replica: "b", Address: addr, Live: true, DropAfter: "10s", Targets: 3}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("peer (-want +got):\n%s", diff)
	}
}
