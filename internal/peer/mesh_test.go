package peer

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wakegate/wakegate/internal/activity"
)

func TestMeshThreeReplicas(t *testing.T) {
	a, b, c := newReplica(t, "a"), newReplica(t, "b"), newReplica(t, "c")
	peers := []string{a.addr(), b.addr(), c.addr()} // each replica's list includes itself
	for _, r := range []*replica{a, b, c} {
		r.start(t, peers)
	}
	if err := waitEnded(t, a, a.addr(), func(err error) bool { return errors.Is(err, errSelf) }); err == nil {
		t.Fatal("a did not recognise its own address")
	}
	// Warm up: a hears from b and c.
	b.tr.Begin("warm")
	c.tr.Begin("warm")
	waitFor(t, a.view, "warm", "a sees b's and c's warm-up requests", func(s activity.Stats) bool { return s.InFlight == 2 })

	// A request held on b wakes a's watchers at once. The warm-up report went out just
	// now, so this edge falls in b's coalescing window; the second one, after a quiet
	// spell (a set-up pause, not a wait for anything), is the first of its burst.
	for _, phase := range []struct{ what, target string }{{"within a burst", "t"}, {"isolated edge", "t2"}} {
		if phase.target == "t2" {
			time.Sleep(2 * DefaultCoalesce)
		}
		_, ch := a.view.Watch(phase.target)
		start := time.Now()
		b.tr.Begin(phase.target)
		b.tr.HoldStart(phase.target)
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: a's Watch channel not closed by b's held request", phase.what)
		}
		delay := time.Since(start)
		t.Logf("cross-replica push delay, %s (b's edge → a's Watch closed): %s", phase.what, delay)
		if delay > 200*time.Millisecond {
			t.Errorf("%s: push delay %s, want well under 200ms", phase.what, delay)
		}
	}
	b.tr.HoldEnd("t2")
	b.tr.End("t2")
	waitFor(t, a.view, "t", "a sees b's held request", func(s activity.Stats) bool { return s.Held == 1 && s.InFlight == 1 })

	// b's requests are in a's rate.
	for range 5 {
		b.tr.Begin("r")
		b.tr.End("r")
	}
	waitFor(t, a.view, "r", "a counts b's 5 requests", func(s activity.Stats) bool { return s.RequestsTotal == 5 && !s.Busy() })
	if got, want := a.view.Rate("r", 10*time.Second), b.tr.Rate("r", 10*time.Second); got != want || want != 0.5 {
		t.Errorf("a's Rate(r) = %v, want b's %v (0.5)", got, want)
	}
	if ps := a.view.Peers(); len(ps) != 2 || ps[0].ReplicaID != "b" || ps[1].ReplicaID != "c" {
		t.Errorf("a's peers = %+v, want b and c (never a itself)", ps)
	}

	testAbruptStop(t, a, c)
	testGoodbye(t, a, b)
}

// testAbruptStop stops c without a goodbye: a keeps c's counts until stale.
func testAbruptStop(t *testing.T, a, c *replica) {
	c.tr.Begin("c")
	c.tr.HoldStart("c")
	waitFor(t, a.view, "c", "a sees c's held request", func(s activity.Stats) bool { return s.Held == 1 })
	stop := time.Now()
	c.stopped()
	waitEnded(t, a, c.addr(), func(err error) bool { return err != nil })
	if s, _ := a.view.Stats("c"); s.Held != 1 {
		t.Errorf("right after c vanished, a's Stats(c) = %+v; want c's held request kept", s)
	}
	waitFor(t, a.view, "c", "a drops c once stale", func(s activity.Stats) bool { return s.Held == 0 })
	kept := time.Since(stop)
	t.Logf("a kept the counts of c (stopped abruptly) for %s (staleness %s)", kept, meshStaleness)
	if kept < meshStaleness/2 {
		t.Errorf("c's counts dropped after %s, before the staleness bound %s", kept, meshStaleness)
	}
	if got := testutil.ToFloat64(a.metrics.dropped.WithLabelValues(ReasonStale)); got != 1 {
		t.Errorf("a's dropped{stale} = %v, want 1", got)
	}
}

// testGoodbye drains b after its held request was answered: a drops it at once.
func testGoodbye(t *testing.T, a, b *replica) {
	b.tr.HoldEnd("t")
	waitFor(t, a.view, "t", "a sees b's hold end", func(s activity.Stats) bool { return s.Held == 0 && s.InFlight == 1 })
	start := time.Now()
	b.srv.Drain()
	waitFor(t, a.view, "t", "a drops b after its goodbye", func(s activity.Stats) bool { return s.InFlight == 0 })
	took := time.Since(start)
	t.Logf("a dropped b %s after its goodbye", took)
	if took >= meshStaleness {
		t.Errorf("b dropped after %s: not at once", took)
	}
	if got := testutil.ToFloat64(a.metrics.dropped.WithLabelValues(ReasonGoodbye)); got != 1 {
		t.Errorf("a's dropped{goodbye} = %v, want 1", got)
	}
	b.tr.End("t")
}

func TestMeshSetPeersAtRuntime(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	a.start(t, nil)
	b.start(t, nil)
	b.tr.Begin("t")
	if err := a.mesh.SetPeers([]string{b.addr(), b.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a.view, "t", "a follows b once listed", func(s activity.Stats) bool { return s.InFlight == 1 })
	if err := a.mesh.SetPeers(nil); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, a, b.addr(), func(err error) bool { return err != nil })
	if s, _ := a.view.Stats("t"); s.InFlight != 1 {
		t.Errorf("right after b left the list: a's Stats = %+v, want b's counts kept until stale", s)
	}
	waitFor(t, a.view, "t", "a drops b once stale", func(s activity.Stats) bool { return s.InFlight == 0 })
	b.tr.End("t")
}

func TestMeshOptions(t *testing.T) {
	v, _, _ := newView(t, 0)
	tests := []struct {
		name    string
		opts    MeshOptions
		wantErr string // "" for none
	}{
		{"defaults", MeshOptions{ReplicaID: "a", View: v, Peers: []string{"10.0.0.1:9091", "wakegate-0.wakegate:9091", "[::1]:9091"}}, ""},
		{"no replica id", MeshOptions{View: v}, "peer: MeshOptions.ReplicaID and View are required"},
		{"no view", MeshOptions{ReplicaID: "a"}, "peer: MeshOptions.ReplicaID and View are required"},
		{"address without port", MeshOptions{ReplicaID: "a", View: v, Peers: []string{"10.0.0.1:9091", "10.0.0.2"}}, `peer address 1 "10.0.0.2": want host:port`},
		{"empty host", MeshOptions{ReplicaID: "a", View: v, Peers: []string{":9091"}}, `peer address 0 ":9091": want host:port`},
		{"empty address", MeshOptions{ReplicaID: "a", View: v, Peers: []string{""}}, `peer address 0 "": want host:port`},
		{"back-off upside down", MeshOptions{ReplicaID: "a", View: v, MinBackoff: time.Second, MaxBackoff: time.Millisecond},
			"peer: MeshOptions back-off 1s..1ms: need 0 < MinBackoff <= MaxBackoff"},
	}
	for _, tc := range tests {
		_, err := NewMesh(tc.opts)
		if got := errString(err); got != tc.wantErr {
			t.Errorf("%s: NewMesh error = %q, want %q", tc.name, got, tc.wantErr)
		}
	}
}

func TestMeshRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, _, _ := newView(t, 0)
		m, err := NewMesh(MeshOptions{ReplicaID: "a", View: v})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		synctest.Wait()
		if err := m.Run(ctx); err == nil {
			t.Error("second Run returned nil, want an error")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestMeshTwoAddressesOneReplica(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	a.start(t, nil)
	b.start(t, nil)
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = b.gs.Serve(ln2) }()
	t.Cleanup(func() { b.stopped(); <-served })

	b.tr.Begin("t")
	b.tr.Begin("t")
	if err := a.mesh.SetPeers([]string{b.addr(), ln2.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a.view, "t", "a follows b", func(s activity.Stats) bool { return s.InFlight > 0 })
	waitEnded(t, a, "", func(err error) bool { return errors.Is(err, errDuplicate) })
	if s, _ := a.view.Stats("t"); s.InFlight != 2 {
		t.Errorf("a's Stats = %+v, want b's 2 requests counted once", s)
	}
	b.tr.End("t")
	b.tr.End("t")
}
