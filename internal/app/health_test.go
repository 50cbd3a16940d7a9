package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// probe calls handler h and returns the status and body.
func probe(h http.HandlerFunc, path string) (int, string) {
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// TestHealthz: /healthz is ok while every loop ticks within its bound, and 500 naming each
// loop that stopped.
func TestHealthz(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newProbes()
		if code, body := probe(p.healthz, "/healthz"); code != http.StatusOK || body != "ok\n" {
			t.Fatalf("no loops: %d %q, want 200 ok", code, body)
		}
		p.tick("gate", 10*time.Second)
		p.tick("informer", 2*time.Second)
		time.Sleep(2 * time.Second) // fake time: both still within their bounds
		if code, body := probe(p.healthz, "/healthz"); code != http.StatusOK {
			t.Fatalf("fresh loops: %d %q, want 200", code, body)
		}
		time.Sleep(time.Second) // informer: 3s since its tick > 2s
		code, body := probe(p.healthz, "/healthz")
		if code != http.StatusInternalServerError || !strings.Contains(body, "loops not ticking: informer") || strings.Contains(body, "gate") {
			t.Fatalf("informer stale: %d %q, want 500 naming informer only", code, body)
		}
		time.Sleep(8 * time.Second) // gate: 11s > 10s
		code, body = probe(p.healthz, "/healthz")
		if code != http.StatusInternalServerError || !strings.Contains(body, "informer") || !strings.Contains(body, "gate") {
			t.Fatalf("both stale: %d %q, want 500 naming both", code, body)
		}
		p.tick("gate", 10*time.Second)
		p.tick("informer", 2*time.Second)
		if code, body := probe(p.healthz, "/healthz"); code != http.StatusOK {
			t.Fatalf("ticked again: %d %q, want 200", code, body)
		}
	})
}

// readyStep is one change to the probes and the readiness it must give.
type readyStep struct {
	name     string
	do       func()
	code     int
	body     string
	grpcWant healthpb.HealthCheckResponse_ServingStatus
}

// runReadySteps applies each step and checks /readyz and the gRPC health status of hs.
func runReadySteps(t *testing.T, p *probes, hs *health.Server, steps []readyStep) {
	t.Helper()
	for _, step := range steps {
		step.do()
		code, body := probe(p.readyz, "/readyz")
		if code != step.code || strings.TrimSpace(body) != step.body {
			t.Errorf("%s: /readyz %d %q, want %d %q", step.name, code, body, step.code, step.body)
		}
		resp, err := hs.Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("%s: gRPC health: %v", step.name, err)
		}
		if resp.GetStatus() != step.grpcWant {
			t.Errorf("%s: gRPC health %v, want %v", step.name, resp.GetStatus(), step.grpcWant)
		}
	}
}

// TestReadyz: /readyz and the gRPC health status follow starting → started → draining.
func TestReadyz(t *testing.T) {
	t.Parallel()
	hs := health.NewServer()
	p := newProbes(hs)
	runReadySteps(t, p, hs, []readyStep{
		{"starting", func() {}, http.StatusServiceUnavailable, "starting", healthpb.HealthCheckResponse_NOT_SERVING},
		{"started", p.setStarted, http.StatusOK, "ok", healthpb.HealthCheckResponse_SERVING},
		{"draining", p.setDraining, http.StatusServiceUnavailable, "draining", healthpb.HealthCheckResponse_NOT_SERVING},
		{"refresh while draining", p.refresh, http.StatusServiceUnavailable, "draining", healthpb.HealthCheckResponse_NOT_SERVING},
	})
}

// TestReadyzConditions: once started, /readyz and gRPC health wait for every readiness
// condition, naming those not met; draining wins over all of them.
func TestReadyzConditions(t *testing.T) {
	t.Parallel()
	hs := health.NewServer()
	p := newProbes(hs)
	var synced, cached atomic.Bool
	p.requireReady("informers", synced.Load)
	p.requireReady("cache", cached.Load)
	runReadySteps(t, p, hs, []readyStep{
		{"started, nothing synced", p.setStarted, http.StatusServiceUnavailable, "waiting for: informers, cache", healthpb.HealthCheckResponse_NOT_SERVING},
		{"informers synced", func() { synced.Store(true); p.refresh() }, http.StatusServiceUnavailable, "waiting for: cache", healthpb.HealthCheckResponse_NOT_SERVING},
		{"all synced", func() { cached.Store(true); p.refresh() }, http.StatusOK, "ok", healthpb.HealthCheckResponse_SERVING},
		{"draining", p.setDraining, http.StatusServiceUnavailable, "draining", healthpb.HealthCheckResponse_NOT_SERVING},
		{"refresh while draining", p.refresh, http.StatusServiceUnavailable, "draining", healthpb.HealthCheckResponse_NOT_SERVING},
	})
}
