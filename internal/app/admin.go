package app

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
)

// statusRateWindow is the window of the requestRate /status reports.
const statusRateWindow = time.Minute

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
}

type statusDoc struct {
	Targets []targetStatus `json:"targets"`
}

func buildStatus(g *gate.Gate, tr *activity.Tracker) statusDoc {
	infos := g.Targets()
	doc := statusDoc{Targets: make([]targetStatus, 0, len(infos))}
	for _, ti := range infos {
		s, _ := tr.Stats(ti.Name)
		row := targetStatus{Name: ti.Name, State: ti.State, Ready: ti.Ready, Held: s.Held, InFlight: s.InFlight,
			RequestsTotal: s.RequestsTotal, RequestRate: tr.Rate(ti.Name, statusRateWindow), Wakeups: ti.Wakeups}
		if !s.LastSeen.IsZero() {
			ls := s.LastSeen.UTC()
			row.LastSeen = &ls
		}
		doc.Targets = append(doc.Targets, row)
	}
	return doc
}

// adminMux serves /healthz, /readyz, /metrics and /status.
func adminMux(p *probes, reg *prometheus.Registry, g *gate.Gate, tr *activity.Tracker) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", p.healthz)
	mux.HandleFunc("GET /readyz", p.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(buildStatus(g, tr)) // the client went away; nothing to do
	})
	return mux
}
