package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/peer"
)

// statusRateWindow is the window of the requestRate /status reports.
const statusRateWindow = time.Minute

// statusDoc is the /status document. Per target, the top-level counts (held, inFlight,
// requestsTotal, requestRate, lastSeen) are this replica's own, as they always were;
// merged holds the same counts summed over this replica and its live peers, which is what
// the KEDA scaler reports; reportedBy names the replicas whose counts are in merged.
// state, ready and wakeups are this replica's gate and provider. peers lists the peers
// whose counts are in the view (a configured peer never heard from is not listed).
type statusDoc struct {
	Replica string         `json:"replica"`
	Time    time.Time      `json:"time"` // when the document was made, on this replica's clock
	Peers   []peerStatus   `json:"peers"`
	Targets []targetStatus `json:"targets"`
}

// targetStatus is one row of /status.
type targetStatus struct {
	Name          string     `json:"name"`
	State         gate.State `json:"state"`
	Ready         bool       `json:"ready"`
	Held          int64      `json:"held"`
	InFlight      int64      `json:"inFlight"`
	RequestsTotal uint64     `json:"requestsTotal"`
	RequestRate   float64    `json:"requestRate"`
	Wakeups       uint64     `json:"wakeups"`
	LastSeen      *time.Time `json:"lastSeen"`
	Merged        counts     `json:"merged"`
	ReportedBy    []string   `json:"reportedBy"` // replica ids, this one first if it has counts, then the peers sorted
}

// counts are a target's merged counters.
type counts struct {
	Held          int64      `json:"held"`
	InFlight      int64      `json:"inFlight"`
	RequestsTotal uint64     `json:"requestsTotal"`
	RequestRate   float64    `json:"requestRate"`
	LastSeen      *time.Time `json:"lastSeen"`
}

// peerStatus is one peer replica in /status.
type peerStatus struct {
	Replica    string    `json:"replica"`
	Address    string    `json:"address"`    // where its last report came from
	Live       bool      `json:"live"`       // reports arrive on time and it has not said goodbye
	LastReport time.Time `json:"lastReport"` // on this replica's clock
	StaleFor   duration  `json:"staleFor"`   // since its last report (wakegate_peer_staleness_seconds)
	DropAfter  duration  `json:"dropAfter"`  // its counts leave the view once staleFor passes this
	Reports    uint64    `json:"reports"`    // reports taken from it
	Targets    int       `json:"targets"`    // targets it reported counts for
	Goodbye    bool      `json:"goodbye"`    // it said goodbye while still holding requests
}

// duration is a time.Duration written in JSON as Go's duration string, rounded to the
// millisecond ("1.25s").
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Round(time.Millisecond).String())
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = duration(v)
	return nil
}

// statusSource is what /status reads. All of it is safe for concurrent use.
type statusSource struct {
	Replica string
	Gate    *gate.Gate
	Tracker *activity.Tracker // this replica's own counts
	View    *peer.View        // merged with the peers'
}

// build makes the document at now.
func (s statusSource) build(now time.Time) statusDoc {
	infos := s.Gate.Targets()
	doc := statusDoc{Replica: s.Replica, Time: now.UTC(), Peers: s.peers(now), Targets: make([]targetStatus, 0, len(infos))}
	for _, ti := range infos {
		doc.Targets = append(doc.Targets, s.target(ti))
	}
	return doc
}

func (s statusSource) target(ti gate.TargetInfo) targetStatus {
	own, _ := s.Tracker.Stats(ti.Name)
	row := targetStatus{Name: ti.Name, State: ti.State, Ready: ti.Ready, Held: own.Held, InFlight: own.InFlight,
		RequestsTotal: own.RequestsTotal, RequestRate: s.Tracker.Rate(ti.Name, statusRateWindow), Wakeups: ti.Wakeups,
		LastSeen: utcOrNil(own.LastSeen), ReportedBy: []string{}}
	tv, _ := s.View.Target(ti.Name)
	row.Merged = counts{Held: tv.Stats.Held, InFlight: tv.Stats.InFlight, RequestsTotal: tv.Stats.RequestsTotal,
		RequestRate: s.View.Rate(ti.Name, statusRateWindow), LastSeen: utcOrNil(tv.Stats.LastSeen)}
	if own.RequestsTotal > 0 || own.Busy() { // what this replica would report to its peers
		row.ReportedBy = append(row.ReportedBy, s.Replica)
	}
	row.ReportedBy = append(row.ReportedBy, tv.Peers...)
	return row
}

func (s statusSource) peers(now time.Time) []peerStatus {
	details := s.View.PeerDetails(now)
	out := make([]peerStatus, 0, len(details))
	for _, d := range details {
		out = append(out, peerStatus{Replica: d.ReplicaID, Address: d.Addr, Live: d.Live(), LastReport: d.LastReport.UTC(),
			StaleFor: duration(d.Age), DropAfter: duration(d.DropAfter), Reports: d.Reports, Targets: d.Targets, Goodbye: d.Final})
	}
	return out
}

// serveStatus writes the document as indented JSON.
func (s statusSource) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.build(time.Now())) // the client went away; nothing to do
}

// utcOrNil returns t in UTC, or nil for the zero time (never seen).
func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
