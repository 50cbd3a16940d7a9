package peer

import (
	"github.com/wakegate/wakegate/internal/telemetry"

	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons, the values of wakegate_peer_dropped_total's reason label.
const (
	ReasonStale   = "stale"   // no report for longer than the staleness bound
	ReasonGoodbye = "goodbye" // a final report with nothing held
)

// Metrics are the peer mesh's series. Safe for concurrent use; a nil *Metrics records
// nothing. The peer label of the staleness gauge holds replica ids and is bounded by the
// number of peers: a dropped peer's series is deleted.
type Metrics struct {
	live      prometheus.Gauge       // wakegate_peer_live
	staleness *prometheus.GaugeVec   // wakegate_peer_staleness_seconds{peer}
	received  prometheus.Counter     // wakegate_peer_reports_received_total
	rejected  prometheus.Counter     // wakegate_peer_reports_rejected_total
	sent      prometheus.Counter     // wakegate_peer_reports_sent_total
	dropped   *prometheus.CounterVec // wakegate_peer_dropped_total{reason}
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered). It
// fails if reg already holds a collector of the same name.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		live: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wakegate_peer_live",
			Help: "Peer replicas whose counts are included in this replica's view.",
		}),
		staleness: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wakegate_peer_staleness_seconds",
			Help: "Seconds since the last report from each peer replica in the view.",
		}, []string{"peer"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wakegate_peer_reports_received_total",
			Help: "Activity reports received from peer replicas and taken into the view.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wakegate_peer_reports_rejected_total",
			Help: "Activity reports received from peer replicas and rejected as invalid.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wakegate_peer_reports_sent_total",
			Help: "Activity reports sent to subscribed peer replicas.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wakegate_peer_dropped_total",
			Help: "Peer replicas dropped from the view, by reason (stale or goodbye).",
		}, []string{"reason"}),
	}
	if err := telemetry.Register(reg, m.live, m.staleness, m.received, m.rejected, m.sent, m.dropped); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	return m, nil
}

func (m *Metrics) setLive(n int) {
	if m != nil {
		m.live.Set(float64(n))
	}
}

func (m *Metrics) setStaleness(peer string, seconds float64) {
	if m != nil {
		m.staleness.WithLabelValues(peer).Set(seconds)
	}
}

func (m *Metrics) receivedReport(ok bool) {
	switch {
	case m == nil:
	case ok:
		m.received.Inc()
	default:
		m.rejected.Inc()
	}
}

func (m *Metrics) sentReport() {
	if m != nil {
		m.sent.Inc()
	}
}

// droppedPeer counts a drop and deletes the peer's staleness series.
func (m *Metrics) droppedPeer(peer, reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
	m.forget(peer)
}

// forget deletes the peer's staleness series.
func (m *Metrics) forget(peer string) {
	if m != nil {
		m.staleness.DeleteLabelValues(peer)
	}
}
