package integration

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// TestLongHoldSurvivesEnvoyKeepalive: Envoy pings its wakegate connection every 10 s (the
// configs ship 30 s); a hold spanning four pings, with nothing else on that connection,
// still ends in 200. grpc-go's default server policy (one ping per 5 minutes) answers the
// third early ping with GOAWAY too_many_pings, which fails the held request (500 here,
// fail-closed) — wakegate's servers accept pings every 10 s.
func TestLongHoldSurvivesEnvoyKeepalive(t *testing.T) {
	t.Parallel()
	const delay = 45 * time.Second
	s := startStack(t, stackOptions{startupDelay: delay.String(),
		target: func(lt *harness.LocalTarget) { lt.HoldTimeout = "55s" },
		envoy: func(l *envoy.Local) {
			l.KeepaliveInterval = 10 * time.Second
			l.FailureModeAllow = false
		}})
	r := s.get(t, appHost)
	if r.status != http.StatusOK {
		t.Fatalf("after a %v hold: status %d, body %.200q", delay, r.status, r.body)
	}
	if ms, err := strconv.Atoi(r.header.Get("x-seen-cold-start")); err != nil || ms < int(delay.Milliseconds()) {
		t.Errorf("x-seen-cold-start %q: want at least the %v startup delay", r.header.Get("x-seen-cold-start"), delay)
	}
	pings, err := s.envoy.Stat(t.Context(), "cluster.wakegate.upstream_cx_destroy_remote_with_active_rq")
	if err != nil {
		t.Fatal(err)
	}
	if pings != 0 {
		t.Errorf("wakegate closed %d Envoy connections with active requests", pings)
	}
}
