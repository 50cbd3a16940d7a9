package peer

import (
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
)

// DefaultStaleness is how long a View keeps a silent peer's last counts unless told
// otherwise (--peer-staleness).
const DefaultStaleness = 10 * time.Second

// ViewOptions configure a View. Tracker is required.
type ViewOptions struct {
	Tracker *activity.Tracker // this replica's own counts
	// Staleness is how long a peer's last counts are kept after its last report: at least
	// three of the heartbeat intervals the peer announces, and DefaultStaleness if 0.
	// Until then a silent peer's in-flight, held and rate stay as last reported.
	Staleness time.Duration
	Logger    *slog.Logger // nil: discard
	Metrics   *Metrics     // nil: none
}

// View is the merged activity of this replica and its live peers: what the KEDA scaler
// reads (it implements the scaler's Counts). Stats sums the counts of the local Tracker
// and of every peer heard from within the staleness bound; Rate adds each peer's rate,
// derived from how its cumulative total grew between reports; Watch's channel closes at
// a local edge and at a peer's edge alike.
//
// A View is safe for concurrent use. It owns one goroutine per watched target (see
// SetTargets and Watch), bridging the Tracker's edges; they and the staleness sweep stop
// when Run returns, after which the View shows local counts only.
type View struct {
	tracker   *activity.Tracker
	staleness time.Duration
	log       *slog.Logger
	m         *Metrics

	mu      sync.Mutex
	peers   map[string]*remote   // by replica id
	watches map[string]*watchers // by target
	local   chan struct{}        // see LocalChanged; nil until asked for
	running bool                 // Run has started
	closed  bool                 // Run has returned
	bridges sync.WaitGroup
}

// NewView returns a View over opts.Tracker with no peers yet; a Mesh feeds it.
func NewView(opts ViewOptions) (*View, error) {
	if opts.Tracker == nil {
		return nil, errors.New("peer: ViewOptions.Tracker is required")
	}
	if opts.Staleness < 0 {
		return nil, errors.New("peer: ViewOptions.Staleness must not be negative")
	}
	if opts.Staleness == 0 {
		opts.Staleness = DefaultStaleness
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &View{tracker: opts.Tracker, staleness: opts.Staleness, log: opts.Logger, m: opts.Metrics,
		peers: map[string]*remote{}, watches: map[string]*watchers{}}, nil
}

// Stats returns target's counters summed over this replica and its live peers: requests
// total, in flight and held added up, LastSeen the latest. ok is false if neither this
// replica nor any peer has counters for target.
func (v *View) Stats(target string) (activity.Stats, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.statsLocked(target)
}

func (v *View) statsLocked(target string) (activity.Stats, bool) {
	s, ok := v.tracker.Stats(target)
	for _, r := range v.peers {
		rt := r.targets[target]
		if rt == nil {
			continue
		}
		ok = true
		s.RequestsTotal = addSat(s.RequestsTotal, rt.stats.RequestsTotal)
		s.InFlight += rt.stats.InFlight
		s.Held += rt.stats.Held
		if rt.stats.LastSeen.After(s.LastSeen) {
			s.LastSeen = rt.stats.LastSeen
		}
	}
	return s, ok
}

// Rate returns target's requests per second over window (whole seconds, at least one,
// at most Retention): the local Tracker's rate plus, for each live peer, how much its
// total grew over the window ending at its last report. A silent peer's rate thus stays
// as it was until the peer is dropped; requests a peer counted before this replica first
// heard from it are not in its rate.
func (v *View) Rate(target string, window time.Duration) float64 {
	window = min(max(window.Truncate(time.Second), time.Second), v.tracker.Retention())
	rate := v.tracker.Rate(target, window)
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range v.peers {
		if rt := r.targets[target]; rt != nil {
			rate += rt.samples.rate(r.last, window)
		}
	}
	return rate
}

// Retention is the longest window Rate answers for: the local Tracker's retention.
func (v *View) Retention() time.Duration { return v.tracker.Retention() }

// PeerStatus describes one peer in a View, for status pages and logs.
type PeerStatus struct {
	ReplicaID string
	Addr      string        // the address its last report came from
	Age       time.Duration // since its last report
	Reports   uint64        // reports taken from it
	Targets   int           // targets it reported activity for
	Final     bool          // it said goodbye while still holding requests
}

// Peers lists the peers whose counts are in the view, sorted by replica id.
func (v *View) Peers() []PeerStatus {
	now := time.Now()
	v.mu.Lock()
	out := make([]PeerStatus, 0, len(v.peers))
	for _, r := range v.peers {
		out = append(out, PeerStatus{ReplicaID: r.id, Addr: r.addr, Age: now.Sub(r.last), Reports: r.reports,
			Targets: len(r.targets), Final: r.final})
	}
	v.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ReplicaID < out[j].ReplicaID })
	return out
}
