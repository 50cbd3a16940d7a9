package app

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// probes tracks liveness (loops keep ticking) and readiness (started, not draining).
// It is safe for concurrent use.
type probes struct {
	draining atomic.Bool
	started  atomic.Bool
	grpc     []*health.Server
	statusMu sync.Mutex // orders gRPC health updates, so "draining" is never overwritten

	mu     sync.Mutex
	beats  map[string]beat
	checks []readyCheck
}

// readyCheck is one more readiness condition, such as informers synced.
type readyCheck struct {
	name string
	ok   func() bool
}

type beat struct {
	last time.Time
	max  time.Duration // stale after this
}

func newProbes(servers ...*health.Server) *probes {
	for _, s := range servers {
		s.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return &probes{grpc: servers, beats: map[string]beat{}}
}

// tick records that loop is alive; it is stale if it does not tick again within max.
func (p *probes) tick(loop string, max time.Duration) {
	p.mu.Lock()
	p.beats[loop] = beat{last: time.Now(), max: max}
	p.mu.Unlock()
}

// requireReady adds a readiness condition: /readyz and gRPC health stay not ready until
// ok reports true. Call it before the stack runs.
func (p *probes) requireReady(name string, ok func() bool) {
	p.mu.Lock()
	p.checks = append(p.checks, readyCheck{name: name, ok: ok})
	p.mu.Unlock()
}

// notReady returns the readiness conditions not met yet.
func (p *probes) notReady() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.checks {
		if !c.ok() {
			out = append(out, c.name)
		}
	}
	return out
}

// setStarted marks the process as serving; it is ready once every readiness condition holds.
func (p *probes) setStarted() {
	p.started.Store(true)
	p.refresh()
}

// refresh sets the gRPC health status from the readiness conditions; the heartbeat calls
// it every second so gRPC health follows /readyz.
func (p *probes) refresh() {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	if p.draining.Load() || !p.started.Load() || len(p.notReady()) > 0 {
		p.setGRPC(healthpb.HealthCheckResponse_NOT_SERVING)
		return
	}
	p.setGRPC(healthpb.HealthCheckResponse_SERVING)
}

// setDraining marks the process as going away: readiness fails from now on.
func (p *probes) setDraining() {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	p.draining.Store(true)
	p.setGRPC(healthpb.HealthCheckResponse_NOT_SERVING)
}

func (p *probes) setGRPC(s healthpb.HealthCheckResponse_ServingStatus) {
	for _, h := range p.grpc {
		h.SetServingStatus("", s)
	}
}

// live returns the loops that stopped ticking.
func (p *probes) live() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var stale []string
	for name, b := range p.beats {
		if time.Since(b.last) > b.max {
			stale = append(stale, name)
		}
	}
	return stale
}

func (p *probes) healthz(w http.ResponseWriter, _ *http.Request) {
	if stale := p.live(); len(stale) > 0 {
		http.Error(w, fmt.Sprintf("loops not ticking: %s", strings.Join(stale, ", ")), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (p *probes) readyz(w http.ResponseWriter, _ *http.Request) {
	waiting := p.notReady()
	switch {
	case p.draining.Load():
		http.Error(w, "draining", http.StatusServiceUnavailable)
	case !p.started.Load():
		http.Error(w, "starting", http.StatusServiceUnavailable)
	case len(waiting) > 0:
		http.Error(w, "waiting for: "+strings.Join(waiting, ", "), http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ok")
	}
}
