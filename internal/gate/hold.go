package gate

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wakegate/wakegate/internal/telemetry"
)

// targetState is the gate's per-target bookkeeping; it survives reconfiguration.
type targetState struct {
	name     string
	policy   atomic.Pointer[Policy]
	held     atomic.Int64
	wakeups  atomic.Uint64 // Wake calls made
	outcomes [len(outcomeNames)]prometheus.Counter
	heldG    prometheus.Gauge
	holdH    [len(outcomeNames)]prometheus.Observer
	timeouts prometheus.Counter

	mu       sync.Mutex
	waking   bool      // a wake loop is running
	interest time.Time // the wake loop keeps going until this passes (if nothing is held)
}

func newTargetState(name string, m *telemetry.Metrics) *targetState {
	st := &targetState{name: name, heldG: m.Held.WithLabelValues(name), timeouts: m.HoldTimeouts.WithLabelValues(name)}
	for o := range outcomeNames {
		st.outcomes[o] = m.Requests.WithLabelValues(name, outcomeNames[o])
		if Outcome(o).endsHold() { // only these are observed: no empty series per target
			st.holdH[o] = m.HoldDuration.WithLabelValues(name, outcomeNames[o])
		}
	}
	return st
}

// endsHold reports whether o can end a hold (and so is observed in the hold histogram).
func (o Outcome) endsHold() bool {
	return o == Released || o == TimedOut || o == Canceled || o == Draining
}

// hold waits for st to become ready. The request has already been counted by Begin.
func (g *Gate) hold(ctx context.Context, st *targetState, req Request) Decision {
	pol := st.policy.Load()
	d := Decision{Target: st.name, RetryAfter: g.opts.RetryAfter}
	switch {
	case g.Draining():
		return g.reject(st, d, Draining, req.Browser && pol.WaitingPage != PageOff)
	case req.Browser && pol.WaitingPage == PageImmediate:
		g.ensureWaker(st, time.Now().Add(pol.HoldTimeout))
		return g.reject(st, d, WaitPage, true)
	case !g.acquire(st, pol):
		return g.reject(st, d, Overload, false)
	}
	defer g.releaseSlot(st)
	timeout := holdTimeout(pol, req)
	if req.OnHold != nil {
		req.OnHold(timeout)
	}
	start := time.Now()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		ready, changed := g.p.Ready(st.name)
		if ready {
			return g.held(st, d, Released, start, false)
		}
		g.ensureWaker(st, time.Time{})
		select {
		case <-changed:
		case <-timer.C:
			st.timeouts.Inc()
			return g.held(st, d, TimedOut, start, req.Browser && pol.WaitingPage != PageOff)
		case <-ctx.Done():
			return g.held(st, d, Canceled, start, false)
		case <-g.drain:
			if ready, _ := g.p.Ready(st.name); ready {
				return g.held(st, d, Released, start, false)
			}
			return g.held(st, d, Draining, start, req.Browser && pol.WaitingPage != PageOff)
		}
	}
}

// holdTimeout is the policy's hold timeout, or less if the request's deadline comes first.
func holdTimeout(pol *Policy, req Request) time.Duration {
	if req.Deadline.IsZero() {
		return pol.HoldTimeout
	}
	return max(0, min(pol.HoldTimeout, time.Until(req.Deadline)))
}

// acquire takes a hold slot for st within its own and the global bound.
func (g *Gate) acquire(st *targetState, pol *Policy) bool {
	if st.held.Add(1) > int64(pol.MaxHeld) {
		st.held.Add(-1)
		return false
	}
	if g.heldAll.Add(1) > int64(g.opts.MaxHeld) {
		g.heldAll.Add(-1)
		st.held.Add(-1)
		return false
	}
	g.tracker.HoldStart(st.name)
	st.heldG.Inc()
	return true
}

func (g *Gate) releaseSlot(st *targetState) {
	st.heldG.Dec()
	g.tracker.HoldEnd(st.name)
	g.heldAll.Add(-1)
	st.held.Add(-1)
}

func (g *Gate) held(st *targetState, d Decision, o Outcome, start time.Time, html bool) Decision {
	d.Outcome, d.Held, d.HTML = o, time.Since(start), html
	st.outcomes[o].Inc()
	st.holdH[o].Observe(d.Held.Seconds())
	return d
}

func (g *Gate) reject(st *targetState, d Decision, o Outcome, html bool) Decision {
	d.Outcome, d.HTML = o, html
	st.outcomes[o].Inc()
	g.m.Rejected.WithLabelValues(st.name, o.String()).Inc()
	return d
}

// ensureWaker makes sure a wake loop runs for st, keeping it alive at least until `until`.
func (g *Gate) ensureWaker(st *targetState, until time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if until.After(st.interest) {
		st.interest = until
	}
	if st.waking {
		return
	}
	st.waking = true
	g.wg.Add(1)
	go g.wakeLoop(st)
}

// wakeLoop calls Wake, then again with back-off, until st is ready or nobody waits.
func (g *Gate) wakeLoop(st *targetState) {
	defer g.wg.Done()
	backoff := g.opts.WakeBackoff
	for {
		st.wakeups.Add(1)
		if err := g.p.Wake(g.ctx, st.name); err != nil {
			g.m.Wakeups.WithLabelValues(st.name, "error").Inc()
			g.log.Warn("wake failed", "target", st.name, "err", err, "retryIn", backoff.String())
		} else {
			g.m.Wakeups.WithLabelValues(st.name, "ok").Inc()
			g.log.Info("wake requested", "target", st.name)
		}
		if g.waitReady(st, backoff) || g.wakeDone(st) {
			return
		}
		backoff = min(2*backoff, g.opts.MaxWakeBackoff)
	}
}

// waitReady waits up to d for st to become ready. If it does (or the gate closes), it
// stops the loop and returns true.
func (g *Gate) waitReady(st *targetState, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		ready, changed := g.p.Ready(st.name)
		if ready && g.stopWaking(st, true) {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		case <-g.ctx.Done():
			g.stopWaking(st, false)
			return true
		}
	}
}

// stopWaking ends the loop if st is ready (checked again under the lock, so a request that
// saw "not ready" and found the loop running is never left without one) or if force.
func (g *Gate) stopWaking(st *targetState, checkReady bool) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if checkReady {
		if ready, _ := g.p.Ready(st.name); !ready {
			return false
		}
	}
	st.waking = false
	return true
}

// wakeDone ends the loop when nothing is held and the interest window has passed.
func (g *Gate) wakeDone(st *targetState) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.held.Load() > 0 || time.Now().Before(st.interest) {
		return false
	}
	st.waking = false
	return true
}
