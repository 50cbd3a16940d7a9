package peer

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

// maxCount bounds a peer's in-flight and held counts as received, so sums over peers can
// neither overflow nor be pushed around by a broken peer.
const maxCount = 1 << 32

// maxHeartbeat bounds the heartbeat interval a peer may announce, which stretches how long
// it is kept after its last report (three intervals).
const maxHeartbeat = time.Minute

// remote is what a View keeps of one peer replica. Owned by the View, guarded by its mu.
type remote struct {
	id        string
	addr      string        // where its last report came from, for logs and status
	started   time.Time     // Report.started as last received (zero if unset)
	heartbeat time.Duration // Report.heartbeat_interval, bounded
	last      time.Time     // when its last report was received, on our clock
	reports   uint64        // reports taken
	final     bool          // it said goodbye while still holding requests
	targets   map[string]*remoteTarget
}

// remoteTarget is one peer's counters for one target. RequestsTotal in stats is the
// peer's reported total plus offset, so it only grows across the peer's counter resets.
type remoteTarget struct {
	stats       activity.Stats
	raw         uint64    // requests_total as last reported
	offset      uint64    // sum of the raw totals seen before each counter reset
	rawLastSeen time.Time // last_seen as last reported, on the peer's clock
	samples     samples
}

// parsed is a validated Report, converted to our clock and bounds.
type parsed struct {
	id        string
	started   time.Time
	heartbeat time.Duration
	final     bool
	targets   map[string]parsedTarget
}

type parsedTarget struct {
	raw            uint64
	inFlight, held int64
	rawLastSeen    time.Time // last_seen on the peer's clock; zero if unset
	lastSeen       time.Time // last_seen on our clock
}

// parseReport validates rep, received at now, and converts it: counts bounded (and in
// flight raised to at least held), last_seen moved to our clock through rep.sent and
// never after now.
// The error names the offending field.
func parseReport(rep *peerv1.Report, now time.Time) (parsed, error) {
	if rep == nil {
		return parsed{}, errors.New("report is missing")
	}
	p := parsed{id: rep.GetReplicaId(), final: rep.GetFinal(), targets: make(map[string]parsedTarget, len(rep.GetTargets()))}
	if p.id == "" {
		return parsed{}, errors.New("report: replica_id is empty")
	}
	if ts := rep.GetStarted(); ts.IsValid() {
		p.started = ts.AsTime()
	}
	p.heartbeat = heartbeatOf(rep)
	for i, ta := range rep.GetTargets() {
		name := ta.GetTarget()
		if name == "" {
			return parsed{}, fmt.Errorf("report from %q: targets[%d].target is empty", p.id, i)
		}
		if _, dup := p.targets[name]; dup {
			return parsed{}, fmt.Errorf("report from %q: targets[%d].target %q appears twice", p.id, i, name)
		}
		p.targets[name] = parseTarget(ta, rep, now)
	}
	return p, nil
}

// parseTarget converts one target of rep (see parseReport).
func parseTarget(ta *peerv1.TargetActivity, rep *peerv1.Report, now time.Time) parsedTarget {
	pt := parsedTarget{raw: ta.GetRequestsTotal(), held: int64(min(ta.GetHeld(), maxCount))}
	pt.inFlight = max(int64(min(ta.GetInFlight(), maxCount)), pt.held)
	ls := ta.GetLastSeen()
	if !ls.IsValid() || ls.AsTime().IsZero() {
		return pt
	}
	pt.rawLastSeen, pt.lastSeen = ls.AsTime(), now
	if sent := rep.GetSent(); sent.IsValid() {
		if ago := sent.AsTime().Sub(ls.AsTime()); ago > 0 {
			pt.lastSeen = now.Add(-ago)
		}
	} else if t := ls.AsTime(); t.Before(now) {
		pt.lastSeen = t
	}
	return pt
}

// heartbeatOf returns the heartbeat interval rep announces, bounded to maxHeartbeat;
// DefaultHeartbeat if it announces none.
func heartbeatOf(rep *peerv1.Report) time.Duration {
	if d := rep.GetHeartbeatInterval(); d.IsValid() && d.AsDuration() > 0 {
		return min(d.AsDuration(), maxHeartbeat)
	}
	return DefaultHeartbeat
}

// edge reports whether a target's state moved in a way a watcher must see: busy or held
// turned on or off, or requests were counted while it looked idle (a request that began
// and ended between two reports).
func edge(old, cur activity.Stats) bool {
	return old.Busy() != cur.Busy() || (old.Held > 0) != (cur.Held > 0) ||
		(!old.Busy() && cur.RequestsTotal != old.RequestsTotal)
}

// apply takes p, received at now, into r and returns the targets whose state has an edge.
// retention bounds the rate history kept per target.
func (r *remote) apply(p parsed, now time.Time, retention time.Duration) []string {
	restarted := r.reports > 0 && !p.started.Equal(r.started)
	var changed []string
	for name, pt := range p.targets {
		rt := r.targets[name]
		if rt == nil {
			rt = &remoteTarget{samples: newSamples(retention)}
			if r.reports > 0 {
				// New since the last report: its requests all came after that report.
				rt.samples.add(r.last, 0)
			}
			r.targets[name] = rt
		}
		old := rt.stats
		rt.update(pt, restarted, now)
		if edge(old, rt.stats) {
			changed = append(changed, name)
		}
	}
	for name, rt := range r.targets {
		if _, ok := p.targets[name]; !ok { // forgotten on the peer
			if rt.stats.Busy() || !rt.stats.LastSeen.IsZero() {
				changed = append(changed, name)
			}
			delete(r.targets, name)
		}
	}
	r.started, r.heartbeat, r.last = p.started, p.heartbeat, now
	r.reports++
	return changed
}

func (rt *remoteTarget) update(pt parsedTarget, restarted bool, now time.Time) {
	if restarted || pt.raw < rt.raw {
		rt.offset = addSat(rt.offset, rt.raw)
	}
	rt.raw = pt.raw
	rt.stats.RequestsTotal = addSat(rt.offset, pt.raw)
	rt.stats.InFlight, rt.stats.Held = pt.inFlight, pt.held
	// Translated again only when it moved, so network jitter does not shift it each report.
	if !pt.rawLastSeen.Equal(rt.rawLastSeen) {
		rt.rawLastSeen, rt.stats.LastSeen = pt.rawLastSeen, pt.lastSeen
	}
	rt.samples.add(now, rt.stats.RequestsTotal)
}

// held reports whether r holds any request.
func (r *remote) held() bool {
	for _, rt := range r.targets {
		if rt.stats.Held > 0 {
			return true
		}
	}
	return false
}

// addSat adds without wrapping around.
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// held reports whether p holds any request.
func (p parsed) held() bool {
	for _, pt := range p.targets {
		if pt.held > 0 {
			return true
		}
	}
	return false
}
