// Package activity keeps per-target request counters: requests total, a per-second rate
// window, requests in flight and held, and when the target was last seen.
//
// A Tracker is safe for concurrent use. Readers either take a snapshot (Stats, Rate) or
// Watch a target: Watch returns the current Stats and a channel that is closed at the
// next edge (see Edge), after which the caller watches again. Channels are never sent
// on, only closed, so a watcher that goes away leaks nothing.
package activity

import (
	"sort"
	"sync"
	"time"
)

// DefaultRetention is how much per-second history a Tracker keeps unless told otherwise;
// Rate windows longer than the retention are clamped to it.
const DefaultRetention = 10 * time.Minute

// Stats is a point-in-time copy of one target's counters.
type Stats struct {
	RequestsTotal uint64
	InFlight      int64     // requests counted by Begin and not yet ended (held ones included)
	Held          int64     // requests waiting for the target to become ready
	LastSeen      time.Time // zero if the target never had a request
}

// Busy reports whether anything is in flight or held.
func (s Stats) Busy() bool { return s.InFlight > 0 || s.Held > 0 }

// Tracker holds counters for any number of targets.
type Tracker struct {
	buckets int // ring size, one bucket per second

	mu      sync.RWMutex
	targets map[string]*counter
}

type counter struct {
	mu      sync.Mutex
	stats   Stats
	ring    []uint64 // requests per second
	stamp   []int64  // unix second each ring slot holds
	changed chan struct{}
	// forgotten: Forget was called while busy; the counter is dropped when it goes idle.
	forgotten bool
	// dead: the counter was dropped from the Tracker; callers must look the target up again.
	dead bool
}

// New returns a Tracker keeping retention of per-second history (DefaultRetention if 0).
func New(retention time.Duration) *Tracker {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Tracker{buckets: max(1, int(retention/time.Second)), targets: map[string]*counter{}}
}

// Retention is the longest window Rate can answer for.
func (t *Tracker) Retention() time.Duration { return time.Duration(t.buckets) * time.Second }

func (t *Tracker) get(target string) *counter {
	t.mu.RLock()
	c := t.targets[target]
	t.mu.RUnlock()
	if c != nil {
		return c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c = t.targets[target]; c == nil {
		c = &counter{ring: make([]uint64, t.buckets), stamp: make([]int64, t.buckets)}
		t.targets[target] = c
	}
	return c
}

// lock returns target's live counter, creating it if needed, with c.mu held. A counter that
// Forget dropped after get returned it is skipped, so no count lands on a dropped counter.
func (t *Tracker) lock(target string) *counter {
	for {
		c := t.get(target)
		c.mu.Lock()
		if !c.dead {
			return c
		}
		c.mu.Unlock()
	}
}

// Begin counts a new request for target and marks it in flight. Every Begin must be paired
// with exactly one End.
func (t *Tracker) Begin(target string) {
	now := time.Now()
	c := t.lock(target)
	c.forgotten = false
	wasBusy := c.stats.Busy()
	c.stats.RequestsTotal++
	c.stats.InFlight++
	c.stats.LastSeen = now
	sec := now.Unix()
	i := int(sec % int64(len(c.ring)))
	if c.stamp[i] != sec {
		c.stamp[i], c.ring[i] = sec, 0
	}
	c.ring[i]++
	if !wasBusy {
		c.signal()
	}
	c.mu.Unlock()
}

// End marks one request of target as finished. LastSeen moves to now, so a long request
// counts as activity until it ends.
func (t *Tracker) End(target string) {
	c := t.lock(target)
	c.stats.InFlight--
	c.stats.LastSeen = time.Now()
	idle := !c.stats.Busy()
	if idle {
		c.signal()
	}
	drop := idle && c.forgotten
	c.mu.Unlock()
	if drop {
		t.dropForgotten(target, c)
	}
}

// HoldStart marks one in-flight request of target as held; pair it with HoldEnd.
func (t *Tracker) HoldStart(target string) {
	c := t.lock(target)
	c.stats.Held++
	if c.stats.Held == 1 {
		c.signal()
	}
	c.mu.Unlock()
}

// HoldEnd marks one held request of target as no longer held.
func (t *Tracker) HoldEnd(target string) {
	c := t.lock(target)
	c.stats.Held--
	if c.stats.Held == 0 {
		c.signal()
	}
	drop := c.forgotten && !c.stats.Busy()
	c.mu.Unlock()
	if drop {
		t.dropForgotten(target, c)
	}
}

// signal closes the current change channel, if anyone asked for one. c.mu must be held.
func (c *counter) signal() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Stats returns a copy of target's counters; ok is false if the target has never been seen.
func (t *Tracker) Stats(target string) (s Stats, ok bool) {
	t.mu.RLock()
	c := t.targets[target]
	t.mu.RUnlock()
	if c == nil {
		return Stats{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats, true
}

// Watch returns target's counters and a channel closed at the next edge: the target going
// from not busy to busy or back, or its held count leaving or reaching zero. Watch creates
// the target's counters if needed, so a watcher may start before the first request.
func (t *Tracker) Watch(target string) (Stats, <-chan struct{}) {
	c := t.lock(target)
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.stats, c.changed
}

// Rate returns target's requests per second averaged over the last window (whole seconds,
// the current one included), clamped to the Tracker's retention.
func (t *Tracker) Rate(target string, window time.Duration) float64 {
	t.mu.RLock()
	c := t.targets[target]
	t.mu.RUnlock()
	if c == nil {
		return 0
	}
	secs := int64(window / time.Second)
	if secs < 1 {
		secs = 1
	}
	if secs > int64(len(c.ring)) {
		secs = int64(len(c.ring))
	}
	now := time.Now().Unix()
	var sum uint64
	c.mu.Lock()
	for i := range c.ring {
		if s := c.stamp[i]; s > now-secs && s <= now {
			sum += c.ring[i]
		}
	}
	c.mu.Unlock()
	return float64(sum) / float64(secs)
}

// Forget drops target's counters, closing its change channel. Use it when a target is
// removed from the configuration. While target still has requests in flight or held, its
// counters stay (so their End is counted where their Begin was) and are dropped when the
// last one ends, unless a new request Begins first.
func (t *Tracker) Forget(target string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.targets[target]
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signal()
	if c.forgotten = c.stats.Busy(); !c.forgotten {
		c.dead = true
		delete(t.targets, target)
	}
}

// dropForgotten drops c, now idle, if Forget asked for it and nothing began since.
// Lock order is t.mu, then c.mu.
func (t *Tracker) dropForgotten(target string, c *counter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgotten && !c.stats.Busy() && t.targets[target] == c {
		c.signal() // a watcher may have watched again since the idle edge
		c.dead = true
		delete(t.targets, target)
	}
}

// Targets lists the targets with counters, sorted.
func (t *Tracker) Targets() []string {
	t.mu.RLock()
	out := make([]string, 0, len(t.targets))
	for k := range t.targets {
		out = append(out, k)
	}
	t.mu.RUnlock()
	sort.Strings(out)
	return out
}
