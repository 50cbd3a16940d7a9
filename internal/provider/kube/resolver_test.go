package kube

import (
	"testing"

	"github.com/wakegate/wakegate/scaler"
)

var (
	_ scaler.Resolver = (*Resolver)(nil)
	_ scaler.Notifier = (*Resolver)(nil)
)

func TestResolver(t *testing.T) {
	f := newFixture(t, Options{})
	r := f.p.Resolver()
	f.p.putObject(scaledObject("ns", "a", 0, routingMD("a.example.com", "svc")))
	if _, ok := r.Resolve("ns", "a"); ok {
		t.Error("resolved before the initial listing")
	}
	changed := r.Changed()
	f.listed(false)
	if !isClosed(changed) {
		t.Fatal("Changed not closed when the first targets appeared")
	}
	tests := []struct {
		ns, name, want string
		ok             bool
	}{
		{"ns", "a", "ns/a", true},
		{"other", "a", "other/a", false},
		{"ns", "b", "ns/b", false},
	}
	for _, tt := range tests {
		if got, ok := r.Resolve(tt.ns, tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Resolve(%q, %q) = %q, %v; want %q, %v", tt.ns, tt.name, got, ok, tt.want, tt.ok)
		}
	}
	changed = r.Changed()
	f.p.putObject(scaledObject("ns", "plain", 0, nil)) // not a target: the set stays
	if isClosed(changed) {
		t.Error("Changed closed although the target set did not change")
	}
}
