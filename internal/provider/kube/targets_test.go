package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

func TestTargetsFollowScaledObjects(t *testing.T) {
	f := newFixture(t, Options{})
	a := scaledObject("ns", "a", 0, routingMD("a.example.com", "svc-a", KeyHoldTimeout, "5s"))
	f.p.putObject(a)
	if n := f.targets.count(); n != 0 {
		t.Fatalf("OnTargets called %d times before the initial listing", n)
	}
	f.listed(false)
	want := []gate.Target{{Rule: route.Rule{Target: "ns/a", Hosts: []string{"a.example.com"}, PathPrefixes: []string{"/"}},
		Policy: gate.Policy{HoldTimeout: 5 * time.Second, MaxHeld: gate.DefaultMaxHeld}}}
	if diff := cmp.Diff(want, <-f.targets.ch); diff != "" {
		t.Fatalf("targets after add (-want +got):\n%s", diff)
	}

	// Update: routing follows.
	changed := f.p.Resolver().Changed()
	a2 := a.DeepCopy()
	a2.Spec.Triggers[0].Metadata[KeyHosts] = "b.example.com"
	f.p.putObject(a2)
	got := <-f.targets.ch
	if diff := cmp.Diff([]string{"b.example.com"}, got[0].Rule.Hosts); diff != "" {
		t.Errorf("hosts after update (-want +got):\n%s", diff)
	}
	if !isClosed(changed) {
		t.Error("Resolver.Changed not closed by the update")
	}

	// An update that changes nothing the targets depend on calls OnTargets no more.
	a3 := a2.DeepCopy()
	a3.Status.LastActiveTime = nil
	a3.ResourceVersion = "99"
	f.p.putObject(a3)
	if n := f.targets.count(); n != 2 {
		t.Errorf("OnTargets called %d times, want 2", n)
	}

	// Delete: target gone.
	f.p.deleteObject(a3)
	if got := <-f.targets.ch; len(got) != 0 {
		t.Errorf("targets after delete = %v, want none", names(got))
	}
	if _, ok := f.p.Resolver().Resolve("ns", "a"); ok {
		t.Error("Resolve still finds the deleted ScaledObject")
	}
	if err := f.p.Wake(t.Context(), "ns/a"); err == nil {
		t.Error("Wake of a deleted target succeeded")
	}
}

func TestInvalidScaledObjectLeavesOthersWorking(t *testing.T) {
	f := newFixture(t, Options{})
	f.p.putObject(scaledObject("ns", "good", 0, routingMD("good.example.com", "good")))
	bad := scaledObject("ns", "bad", 0, routingMD("good.example.com", "bad", KeyMaxHeld, "lots"))
	f.p.putObject(bad)
	f.listed(false)
	if got := names(<-f.targets.ch); !cmp.Equal(got, []string{"ns/good"}) {
		t.Fatalf("targets = %v, want [ns/good]", got)
	}
	evs := f.events()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning "+ReasonInvalidMetadata) || !strings.Contains(evs[0], `"maxHeld": "lots"`) {
		t.Fatalf("events = %q, want one Warning naming maxHeld and its value", evs)
	}

	// A rebuild for another reason does not repeat the Event; a new problem is reported.
	f.p.putObject(scaledObject("ns", "other", 0, routingMD("other.example.com", "other")))
	<-f.targets.ch
	if evs := f.events(); len(evs) != 0 {
		t.Errorf("events repeated: %q", evs)
	}
	bad2 := bad.DeepCopy()
	bad2.Spec.Triggers[0].Metadata[KeyMaxHeld] = "0"
	f.p.putObject(bad2)
	if evs := f.events(); len(evs) != 1 || !strings.Contains(evs[0], `"maxHeld": "0"`) {
		t.Errorf("events after a new problem = %q", evs)
	}

	// Fixed: it joins the targets.
	fixed := bad.DeepCopy()
	fixed.Spec.Triggers[0].Metadata[KeyMaxHeld] = "10"
	fixed.Spec.Triggers[0].Metadata[KeyHosts] = "bad.example.com"
	f.p.putObject(fixed)
	if got := names(<-f.targets.ch); !cmp.Equal(got, []string{"ns/bad", "ns/good", "ns/other"}) {
		t.Errorf("targets after the fix = %v", got)
	}
}

func TestConflictOlderWins(t *testing.T) {
	f := newFixture(t, Options{})
	newer := scaledObject("ns", "newer", time.Hour, routingMD("app.example.com", "svc"))
	older := scaledObject("ns", "older", 0, routingMD("app.example.com", "svc"))
	f.p.putObject(newer)
	f.listed(false)
	if got := names(<-f.targets.ch); !cmp.Equal(got, []string{"ns/newer"}) {
		t.Fatalf("targets = %v", got)
	}
	if evs := f.events(); len(evs) != 0 {
		t.Fatalf("events before the conflict: %q", evs)
	}

	// The older one appears (e.g. in a namespace just added to the watch): it wins.
	f.p.putObject(older)
	if got := names(<-f.targets.ch); !cmp.Equal(got, []string{"ns/older"}) {
		t.Fatalf("targets = %v, want the older one", got)
	}
	evs := f.events()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning "+ReasonRouteConflict) || !strings.Contains(evs[0], "ns/older") {
		t.Fatalf("events = %q, want one conflict Warning naming ns/older", evs)
	}

	// The winner goes away: the other takes over.
	f.p.deleteObject(older)
	if got := names(<-f.targets.ch); !cmp.Equal(got, []string{"ns/newer"}) {
		t.Errorf("targets after the winner left = %v", got)
	}
}

func TestRemovedTargetWakesWaiters(t *testing.T) {
	f := newFixture(t, Options{})
	so := scaledObject("ns", "a", 0, routingMD("a.example.com", "svc"))
	f.p.putObject(so)
	f.listed(false)
	<-f.targets.ch
	f.p.putSlice(endpointSlice("ns", "svc-1", "svc", []discoveryPort{port("http", 80)}, ep("10.0.0.1", nil)))
	ready, changed := f.p.Ready("ns/a")
	if !ready {
		t.Fatal("not ready")
	}
	f.p.deleteObject(so)
	if !isClosed(changed) {
		t.Fatal("channel of a removed target not closed")
	}
	ready, next := f.p.Ready("ns/a")
	if ready {
		t.Error("removed target still ready")
	}
	if isClosed(next) {
		t.Fatal("unknown target's channel already closed")
	}
	f.p.putObject(so)
	if !isClosed(next) {
		t.Error("unknown target's channel not closed when the target set changed")
	}
	if ready, _ := f.p.Ready("ns/a"); !ready {
		t.Error("re-added target not ready although its Service has a ready endpoint")
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t, Options{})
	f.p.putObject(scaledObject("ns", "b", 0, routingMD("b.example.com", "svc-b", KeyPort, "http")))
	f.p.putObject(scaledObject("ns", "a", 0, routingMD("a.example.com", "svc-a")))
	f.listed(false)
	f.p.putSlice(endpointSlice("ns", "svc-b-1", "svc-b", []discoveryPort{port("http", 8080)},
		ep("10.0.0.1", nil), ep("10.0.0.2", ptr(true)), ep("10.0.0.3", ptr(false))))
	want := []TargetStatus{
		{Name: "ns/a", Service: "svc-a"},
		{Name: "ns/b", Service: "svc-b", Port: "http", Ready: true, Endpoints: 2},
	}
	if diff := cmp.Diff(want, f.p.Status()); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}
}
