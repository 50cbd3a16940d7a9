package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminMux serves /healthz, /readyz, /metrics and /status (see statusDoc).
func adminMux(p *probes, reg *prometheus.Registry, status statusSource) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", p.healthz)
	mux.HandleFunc("GET /readyz", p.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /status", status.serveStatus)
	return mux
}

// adminHandler is the stack's admin mux.
func (s *stack) adminHandler() http.Handler {
	return adminMux(s.probes, s.reg, statusSource{Replica: s.opts.ReplicaID, Gate: s.gate, Tracker: s.tracker, View: s.view})
}
