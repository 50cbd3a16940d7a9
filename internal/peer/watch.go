package peer

import (
	"github.com/wakegate/wakegate/internal/activity"
)

// watchers is the merged edge broadcast of one target: a close-and-replace channel,
// closed both by the target's local bridge (a goroutine that follows the Tracker's edges)
// and by the report ingest path. Guarded by View.mu.
type watchers struct {
	changed chan struct{} // nil until Watch asks; closed and cleared at the next edge
	stop    chan struct{} // closed to stop the bridge; nil if none runs
}

// Watch returns target's merged Stats and a channel closed at the target's next edge:
// local (the Tracker's busy, idle and held edges) or remote (a peer's report turning
// busy or held on or off, or counting requests while the target looked idle there, or
// the peer being dropped). Spurious closes may happen; the caller reads Stats again.
//
// Watch spawns nothing per call: all callers of one target share one channel. A target
// not named by SetTargets gets a bridge on demand, kept until the next SetTargets call.
// After Run returns, Watch is the local Tracker's Watch.
func (v *View) Watch(target string) (activity.Stats, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return v.tracker.Watch(target)
	}
	w := v.watchersLocked(target)
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	s, _ := v.statsLocked(target) // after the channel: an edge from now on closes it
	return s, w.changed
}

// LocalChanged returns a channel closed at the next edge of any target with a bridge
// (every target named by SetTargets): what a Server waits on to push a report at once.
func (v *View) LocalChanged() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.local == nil {
		v.local = make(chan struct{})
	}
	return v.local
}

// SetTargets names the configured targets, whose local edges the View follows (one
// goroutine each) so that Watch and LocalChanged see them. Bridges of targets no longer
// named stop; their watchers are woken. Call it whenever the configuration changes, and
// before the Tracker's Forget of a removed target, so no bridge revives its counters.
// Safe for concurrent use; before Run it records the set and starts the bridges.
func (v *View) SetTargets(names []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	for name, w := range v.watches {
		if !keep[name] {
			v.unwatchLocked(name, w)
		}
	}
	for name := range keep {
		v.watchersLocked(name)
	}
}

// watchersLocked returns target's entry, creating it and starting its bridge if needed.
func (v *View) watchersLocked(target string) *watchers {
	w := v.watches[target]
	if w == nil {
		w = &watchers{}
		v.watches[target] = w
	}
	if w.stop == nil && !v.closed {
		_, ch := v.tracker.Watch(target) // taken now, so no edge slips before the bridge runs
		w.stop = make(chan struct{})
		v.bridges.Add(1)
		go v.bridge(target, ch, w.stop)
	}
	return w
}

// unwatchLocked stops target's bridge, wakes its watchers and forgets the entry.
func (v *View) unwatchLocked(target string, w *watchers) {
	if w.stop != nil {
		close(w.stop)
	}
	if w.changed != nil {
		close(w.changed)
	}
	delete(v.watches, target)
}

// bridge follows target's local edges until stop closes. At each edge it watches the
// Tracker again before waking watchers (so no edge falls between), all under v.mu (so a
// bridge that SetTargets stopped never watches again and revives a forgotten target).
func (v *View) bridge(target string, ch <-chan struct{}, stop chan struct{}) {
	defer v.bridges.Done()
	for {
		select {
		case <-stop:
			return
		case <-ch:
		}
		v.mu.Lock()
		select {
		case <-stop:
			v.mu.Unlock()
			return
		default:
		}
		_, ch = v.tracker.Watch(target)
		v.fireLocked(target)
		if v.local != nil {
			close(v.local)
			v.local = nil
		}
		v.mu.Unlock()
	}
}

// fireLocked closes target's watch channel, if anyone waits on it.
func (v *View) fireLocked(target string) {
	if w := v.watches[target]; w != nil && w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
}
