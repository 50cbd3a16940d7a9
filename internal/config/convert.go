package config

import (
	"maps"
	"slices"
	"sort"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/provider/local"
	"github.com/wakegate/wakegate/internal/route"
)

// GateTargets returns the gate's view of c's targets: routing rules and hold policies.
// The result shares nothing with c.
func (c *Local) GateTargets() []gate.Target {
	out := make([]gate.Target, 0, len(c.Targets))
	for _, t := range c.Targets {
		out = append(out, gate.Target{Rule: t.rule(), Policy: gate.Policy{
			HoldTimeout: t.HoldTimeout, WaitingPage: t.WaitingPage, MaxHeld: t.MaxHeld,
		}})
	}
	return out
}

// ProcessSpecs returns the local provider's view of c's targets. The result shares
// nothing with c.
func (c *Local) ProcessSpecs() []local.Spec {
	out := make([]local.Spec, 0, len(c.Targets))
	for _, t := range c.Targets {
		out = append(out, local.Spec{
			Name:            t.Name,
			Command:         slices.Clone(t.Process.Command),
			Dir:             t.Process.Dir,
			Env:             maps.Clone(t.Process.Env),
			ReadyHTTP:       t.Readiness.HTTP,
			ReadyTCP:        t.Readiness.TCP,
			ReadyInterval:   t.Readiness.Interval,
			IdleTimeout:     t.IdleTimeout,
			StopGracePeriod: t.StopGracePeriod,
		})
	}
	return out
}

func (t *LocalTarget) rule() route.Rule {
	return route.Rule{
		Target:       t.Name,
		Hosts:        slices.Clone(t.Match.Hosts),
		PathPrefixes: slices.Clone(t.Match.PathPrefixes),
		Headers:      maps.Clone(t.Match.Headers),
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
