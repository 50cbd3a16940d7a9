package gate

import (
	"slices"
	"strings"
)

// State is a target's state as /status shows it.
type State string

const (
	StateIdle   State = "idle"   // not ready and nothing is waking it
	StateWaking State = "waking" // not ready; a wake loop is running
	StateReady  State = "ready"  // the provider reports it ready
)

// TargetInfo describes one configured target.
type TargetInfo struct {
	Name    string
	State   State
	Ready   bool
	Held    int64
	Wakeups uint64 // Wake calls made since the target was first configured
	Policy  Policy
}

// Targets lists the configured targets and their states, in name order.
func (g *Gate) Targets() []TargetInfo {
	cfg := g.cfg.Load()
	out := make([]TargetInfo, 0, len(cfg.targets))
	for name, st := range cfg.targets {
		ready, _ := g.p.Ready(name)
		st.mu.Lock()
		waking := st.waking
		st.mu.Unlock()
		info := TargetInfo{Name: name, Ready: ready, Held: st.held.Load(), Wakeups: st.wakeups.Load(), Policy: *st.policy.Load(), State: StateIdle}
		switch {
		case ready:
			info.State = StateReady
		case waking:
			info.State = StateWaking
		}
		out = append(out, info)
	}
	sortInfos(out)
	return out
}

// Policy returns target's policy, if configured.
func (g *Gate) Policy(target string) (Policy, bool) {
	st := g.cfg.Load().targets[target]
	if st == nil {
		return Policy{}, false
	}
	return *st.policy.Load(), true
}

func sortInfos(s []TargetInfo) {
	slices.SortFunc(s, func(a, b TargetInfo) int { return strings.Compare(a.Name, b.Name) })
}
