package peer

import (
	"context"
	"errors"
	"fmt"
	"time"

	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

// Run sweeps stale peers until ctx is cancelled, then stops the View's goroutines and
// drops every peer: from then on the View shows local counts only. It returns nil, or an
// error if called more than once.
func (v *View) Run(ctx context.Context) error {
	v.mu.Lock()
	if v.running {
		v.mu.Unlock()
		return errors.New("peer: View.Run called twice")
	}
	v.running = true
	v.mu.Unlock()
	defer v.close()

	t := time.NewTicker(v.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			v.sweep(now)
		}
	}
}

// sweepEvery is how often Run looks for stale peers: a quarter of the staleness bound, at
// most a second; it also refreshes the staleness gauges.
func (v *View) sweepEvery() time.Duration {
	return max(min(v.staleness/4, time.Second), time.Millisecond)
}

// staleAfter is how long p's counts are kept after its last report.
func (v *View) staleAfter(heartbeat time.Duration) time.Duration {
	return max(v.staleness, 3*heartbeat)
}

// sweep drops the peers silent for longer than their staleness bound.
func (v *View) sweep(now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for id, r := range v.peers {
		age := now.Sub(r.last)
		if age <= v.staleAfter(r.heartbeat) {
			v.m.setStaleness(id, age.Seconds())
			continue
		}
		v.log.Warn("peer: dropping a peer silent for too long; its counts leave the view",
			"peer", id, "addr", r.addr, "silentFor", age.Round(time.Millisecond).String(),
			"staleness", v.staleAfter(r.heartbeat).String())
		v.dropLocked(r, ReasonStale)
	}
}

// ingest takes rep, received from addr at now, into the view and wakes the watchers of
// every target it moved. A final report with nothing held drops the peer at once. An
// invalid report changes nothing; the error names the offending field.
func (v *View) ingest(addr string, rep *peerv1.Report, now time.Time) error {
	p, err := parseReport(rep, now)
	if err != nil {
		v.m.receivedReport(false)
		return fmt.Errorf("from %s: %w", addr, err)
	}
	v.m.receivedReport(true)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	r := v.peers[p.id]
	if r == nil && p.final && !p.held() {
		return nil // leaving with nothing held, and not in the view: nothing to keep
	}
	if r == nil {
		r = &remote{id: p.id, targets: map[string]*remoteTarget{}}
		v.peers[p.id] = r
		v.m.setLive(len(v.peers))
		v.log.Info("peer: new peer in the view", "peer", p.id, "addr", addr)
	}
	r.addr = addr
	for _, name := range r.apply(p, now, v.tracker.Retention()) {
		v.fireLocked(name)
	}
	v.m.setStaleness(p.id, 0)
	if p.final {
		v.goodbyeLocked(r)
	}
	return nil
}

// goodbyeLocked handles a final report: a peer that answered all it held leaves the view
// at once; one still holding requests is kept until stale, like a peer that vanished.
func (v *View) goodbyeLocked(r *remote) {
	if r.held() {
		r.final = true
		v.log.Warn("peer: peer said goodbye while holding requests; keeping its counts until stale",
			"peer", r.id, "addr", r.addr)
		return
	}
	v.log.Info("peer: peer said goodbye; its counts leave the view", "peer", r.id, "addr", r.addr)
	v.dropLocked(r, ReasonGoodbye)
}

// dropLocked removes r and wakes the watchers of every target it had counts for.
func (v *View) dropLocked(r *remote, reason string) {
	delete(v.peers, r.id)
	for name := range r.targets {
		v.fireLocked(name)
	}
	v.m.setLive(len(v.peers))
	v.m.droppedPeer(r.id, reason)
}

// close stops every bridge, drops every peer (not counted as drops) and wakes watchers.
func (v *View) close() {
	v.mu.Lock()
	v.closed = true
	for name, w := range v.watches {
		v.unwatchLocked(name, w)
	}
	for id := range v.peers {
		delete(v.peers, id)
		v.m.forget(id)
	}
	v.m.setLive(0)
	if v.local != nil {
		close(v.local)
		v.local = nil
	}
	v.mu.Unlock()
	v.bridges.Wait()
}
