// Package telemetry holds wakegate's Prometheus metrics. Metrics are created against an
// injected registry; there are no package-level collectors.
package telemetry

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the request-path and wake-up series. All fields are safe for concurrent use.
// Target labels are bounded by configuration: only configured targets are ever labelled.
type Metrics struct {
	Requests     *prometheus.CounterVec   // wakegate_requests_total{target,outcome}
	Unmatched    prometheus.Counter       // wakegate_unmatched_requests_total
	Held         *prometheus.GaugeVec     // wakegate_held_requests{target}
	HoldDuration *prometheus.HistogramVec // wakegate_hold_duration_seconds{target,outcome}
	Wakeups      *prometheus.CounterVec   // wakegate_wakeups_total{target,result}
	HoldTimeouts *prometheus.CounterVec   // wakegate_hold_timeouts_total{target}
	Rejected     *prometheus.CounterVec   // wakegate_rejected_requests_total{target,reason}
}

// NewMetrics creates the metrics and registers them with reg (nil: not registered, which
// suits tests). It fails if reg already holds a collector of the same name.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wakegate_requests_total",
			Help: "Requests matched to a target, by how the gate answered them.",
		}, []string{"target", "outcome"}),
		Unmatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wakegate_unmatched_requests_total",
			Help: "Requests that matched no target and passed untouched.",
		}),
		Held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wakegate_held_requests",
			Help: "Requests currently held waiting for their target to become ready.",
		}, []string{"target"}),
		HoldDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wakegate_hold_duration_seconds",
			Help:    "How long held requests waited, by outcome.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120},
		}, []string{"target", "outcome"}),
		Wakeups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wakegate_wakeups_total",
			Help: "Wake-up calls made to the provider, by result (ok or error).",
		}, []string{"target", "result"}),
		HoldTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wakegate_hold_timeouts_total",
			Help: "Held requests answered 503 because the target was not ready in time.",
		}, []string{"target"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wakegate_rejected_requests_total",
			Help: "Requests answered without reaching the target, by reason.",
		}, []string{"target", "reason"}),
	}
	if err := Register(reg, m.Requests, m.Unmatched, m.Held, m.HoldDuration, m.Wakeups, m.HoldTimeouts, m.Rejected); err != nil {
		return nil, err
	}
	return m, nil
}

// Register registers every collector with reg; a nil reg registers nothing (tests). It
// fails on the first collector whose name reg already holds.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}
