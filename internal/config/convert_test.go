package config

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/provider/local"
	"github.com/wakegate/wakegate/internal/route"
)

const twoTargetConfig = `
targets:
  - name: web
    match:
      hosts: ["localhost", "*.web.localhost"]
      headers: {x-tenant: demo}
    process:
      command: ["./bin/sample-app", "--listen", "127.0.0.1:18080"]
      env: {GREETING: hello}
    readiness:
      http: "http://127.0.0.1:18080/healthz"
  - name: api
    match:
      hosts: ["localhost"]
      pathPrefixes: ["/api"]
    process:
      command: ["sample-app"]
    readiness:
      tcp: "127.0.0.1:18081"
      interval: 1s
    idleTimeout: 1m
    holdTimeout: 10s
    waitingPage: "off"
    stopGracePeriod: 3s
    maxHeld: 5
`

func TestConversions(t *testing.T) {
	path := writeConfig(t, twoTargetConfig)
	dir := filepath.Dir(path)
	c, err := LoadLocal(path)
	if err != nil {
		t.Fatalf("LoadLocal: %v", err)
	}
	wantGate := []gate.Target{
		{Rule: route.Rule{Target: "web", Hosts: []string{"localhost", "*.web.localhost"}, PathPrefixes: []string{"/"},
			Headers: map[string]string{"x-tenant": "demo"}},
			Policy: gate.Policy{HoldTimeout: time.Minute, WaitingPage: gate.PageOnTimeout, MaxHeld: 1000}},
		{Rule: route.Rule{Target: "api", Hosts: []string{"localhost"}, PathPrefixes: []string{"/api"}},
			Policy: gate.Policy{HoldTimeout: 10 * time.Second, WaitingPage: gate.PageOff, MaxHeld: 5}},
	}
	gotGate := c.GateTargets()
	if diff := cmp.Diff(wantGate, gotGate); diff != "" {
		t.Errorf("GateTargets (-want +got):\n%s", diff)
	}
	wantSpecs := []local.Spec{
		{Name: "web", Command: []string{filepath.Join(dir, "bin/sample-app"), "--listen", "127.0.0.1:18080"}, Dir: dir,
			Env: map[string]string{"GREETING": "hello"}, ReadyHTTP: "http://127.0.0.1:18080/healthz",
			ReadyInterval: 100 * time.Millisecond, IdleTimeout: 5 * time.Minute, StopGracePeriod: 10 * time.Second},
		{Name: "api", Command: []string{"sample-app"}, Dir: dir, ReadyTCP: "127.0.0.1:18081",
			ReadyInterval: time.Second, IdleTimeout: time.Minute, StopGracePeriod: 3 * time.Second},
	}
	gotSpecs := c.ProcessSpecs()
	if diff := cmp.Diff(wantSpecs, gotSpecs); diff != "" {
		t.Errorf("ProcessSpecs (-want +got):\n%s", diff)
	}
	checkUsable(t, c)

	// The results share nothing with c.
	gotGate[0].Rule.Hosts[0] = "changed"
	gotGate[0].Rule.Headers["x-tenant"] = "changed"
	gotSpecs[0].Command[0] = "changed"
	gotSpecs[0].Env["GREETING"] = "changed"
	if diff := cmp.Diff(wantGate, c.GateTargets()); diff != "" {
		t.Errorf("GateTargets after mutating an earlier result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSpecs, c.ProcessSpecs()); diff != "" {
		t.Errorf("ProcessSpecs after mutating an earlier result (-want +got):\n%s", diff)
	}
}

// checkUsable fails unless c's conversions are accepted by the router and the provider.
func checkUsable(t *testing.T, c *Local) {
	t.Helper()
	targets := c.GateTargets()
	rules := make([]route.Rule, 0, len(targets))
	for _, tg := range targets {
		rules = append(rules, tg.Rule)
		if tg.Policy.HoldTimeout <= 0 || tg.Policy.MaxHeld < 1 {
			t.Errorf("target %q: policy %+v would be refused by the gate", tg.Rule.Target, tg.Policy)
		}
	}
	if _, err := route.New(rules); err != nil {
		t.Errorf("route.New refuses a validated config: %v", err)
	}
	if _, err := local.New(local.Options{Specs: c.ProcessSpecs(), Tracker: activity.New(0)}); err != nil {
		t.Errorf("local.New refuses a validated config: %v", err)
	}
}
