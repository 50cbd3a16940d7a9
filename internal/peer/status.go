package peer

import (
	"slices"
	"sort"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
)

// TargetView is one target's merged counters and the peers they came from, read at one
// instant: Stats is what View.Stats returns, Peers the replica ids of the peers whose
// counts for the target are in it (sorted). Whether this replica's own counts are in it
// is for the caller to tell from its Tracker.
type TargetView struct {
	Stats activity.Stats
	Peers []string
}

// Target returns target's merged counters with the peers that reported it, under one
// lock so the two agree. ok is false if neither this replica nor any peer has counters
// for target. Read-only; safe for concurrent use.
func (v *View) Target(target string) (tv TargetView, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	tv.Stats, ok = v.statsLocked(target)
	for id, r := range v.peers {
		if r.targets[target] != nil {
			tv.Peers = append(tv.Peers, id)
		}
	}
	slices.Sort(tv.Peers)
	return tv, ok
}

// PeerDetail is a PeerStatus with what a status page needs to tell a peer that reports
// on time from a silent one whose last counts are kept until stale.
type PeerDetail struct {
	PeerStatus
	LastReport time.Time     // when its last report was received, on this replica's clock
	Heartbeat  time.Duration // the longest gap between its reports that it announced
	DropAfter  time.Duration // it leaves the view once silent this long (Age > DropAfter)
}

// Live reports whether the peer's reports arrive on time (the last one within two
// heartbeats) and it has not said goodbye. A peer that is not live still counts until
// its Age passes DropAfter.
func (d PeerDetail) Live() bool { return !d.Final && d.Age <= 2*d.Heartbeat }

// PeerDetails lists the peers whose counts are in the view, sorted by replica id, with
// their ages taken at now. Read-only; safe for concurrent use.
func (v *View) PeerDetails(now time.Time) []PeerDetail {
	v.mu.Lock()
	out := make([]PeerDetail, 0, len(v.peers))
	for _, r := range v.peers {
		out = append(out, PeerDetail{
			PeerStatus: PeerStatus{ReplicaID: r.id, Addr: r.addr, Age: now.Sub(r.last), Reports: r.reports,
				Targets: len(r.targets), Final: r.final},
			LastReport: r.last, Heartbeat: r.heartbeat, DropAfter: v.staleAfter(r.heartbeat),
		})
	}
	v.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ReplicaID < out[j].ReplicaID })
	return out
}
