package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// Hosts of the two targets every HA replica gates.
const (
	haWarmHost = "app.test"  // target "app": ready once the shared app answers /healthz
	haColdHost = "cold.test" // target "cold": ready only when the test flips its switch
)

// haStaleness is --peer-staleness in the HA tests. A peer is kept at least three of its
// heartbeats (1s each), so a silent one is dropped about 3s after its last report.
const haStaleness = 2 * time.Second

// haShutdownDelay is every replica's --shutdown-delay: long enough for Envoy's health
// checks (every haHealthInterval) to see NOT_SERVING before the replica closes its port.
const (
	haShutdownDelay  = time.Second
	haHealthInterval = 100 * time.Millisecond
)

// haCluster is three wakegate replicas that share their counts, the one sample app all of
// them gate, and the switch that makes target "cold" ready.
//
// Local mode has no shared workload: each replica's provider would start its own process.
// So both targets' processes are stand-ins (sleep), the app Envoy routes to is one sample
// app the test runs, and readiness decides everything: "app" is ready when that app
// answers, "cold" when the test says so.
type haCluster struct {
	ids      []string // "a", "b", "c"
	replicas []*haReplica
	app      harness.SampleAppOptions
	cold     *readinessSwitch
}

// haReplica is one replica; killed marks one the test SIGKILLed (its exit status is not
// checked at cleanup).
type haReplica struct {
	*harness.Wakegate
	id     string
	mu     sync.Mutex
	killed bool
}

// startHACluster starts the app and three replicas, each listing all three peer addresses
// (--peers; a replica skips itself), and waits until every replica hears from the other two.
//
// The peer ports are picked with harness.FreePort before the replicas start, so that the
// list is known to each: another process could take such a port in the moment between the
// pick and the bind (the replica then fails to start and the test fails; no retry).
func startHACluster(t *testing.T) *haCluster {
	t.Helper()
	bins := binaries(t)
	c := &haCluster{ids: []string{"a", "b", "c"}, app: sampleApp(t, "app"), cold: startReadinessSwitch(t)}
	harness.SampleAppForTest(t, c.app)
	addrs := make([]string, len(c.ids))
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", harness.FreePortForTest(t))
	}
	cfg := harness.LocalConfig{Targets: []harness.LocalTarget{
		haTarget("app", haWarmHost, c.app.HealthURL()), haTarget("cold", haColdHost, c.cold.url)}}
	dir := t.TempDir()
	c.replicas = make([]*haReplica, len(c.ids))
	errs := make([]error, len(c.ids))
	var wg sync.WaitGroup
	for i, id := range c.ids {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), harness.StartTimeout)
			defer cancel()
			w, err := harness.StartWakegate(ctx, harness.WakegateOptions{Bin: bins.Wakegate, Dir: dir, Name: "wakegate-" + id, Config: cfg,
				Args: []string{"--replica-id", id, "--peer-addr", addrs[i], "--peers", strings.Join(addrs, ","),
					"--peer-staleness", haStaleness.String(), "--shutdown-delay", haShutdownDelay.String()}})
			if err != nil {
				errs[i] = fmt.Errorf("replica %s: %w", id, err)
				return
			}
			c.replicas[i] = &haReplica{Wakegate: w, id: id}
		})
	}
	wg.Wait()
	for _, r := range c.replicas {
		if r != nil {
			r.stopOnCleanup(t)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("start replicas: %v", err)
	}
	for _, r := range c.replicas {
		r.awaitPeers(t, "the full mesh", func(p map[string]haPeer) bool {
			return len(p) == 2 && p[r.other(c, 1)].Live && p[r.other(c, 2)].Live
		})
	}
	return c
}

// haTarget is a target whose process is a stand-in and whose readiness is readyURL.
func haTarget(name, host, readyURL string) harness.LocalTarget {
	return harness.LocalTarget{Name: name, Match: harness.Match{Hosts: []string{host}},
		Process:   harness.ProcessSpec{Command: []string{"sleep", "3600"}},
		Readiness: harness.ReadinessCheck{HTTP: readyURL, Interval: "20ms"}, IdleTimeout: "10m", HoldTimeout: "40s",
		StopGracePeriod: "1s"}
}

// other returns the id of the replica n places after r in the cluster's order.
func (r *haReplica) other(c *haCluster, n int) string {
	for i, id := range c.ids {
		if id == r.id {
			return c.ids[(i+n)%len(c.ids)]
		}
	}
	return ""
}

// stopOnCleanup stops r when the test ends: SIGTERM, and exit status 0 required unless the
// test killed it. A failed test gets the end of its log.
func (r *haReplica) stopOnCleanup(t *testing.T) {
	t.Cleanup(func() {
		err := r.Stop(harness.StopGrace)
		r.mu.Lock()
		killed := r.killed
		r.mu.Unlock()
		if err != nil && !killed {
			t.Errorf("stop replica %s: %v", r.id, err)
		}
		if t.Failed() {
			t.Logf("--- end of replica %s's log (%s):\n%s", r.id, r.LogPath(), lastLines(r.Log(), 80))
		}
	})
}

// kill sends SIGKILL.
func (r *haReplica) kill(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	r.killed = true
	r.mu.Unlock()
	if err := r.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// haEnvoy starts an Envoy whose ext_proc cluster holds the three replicas (round robin,
// gRPC health-checked every haHealthInterval, no panic routing), fail-open or fail-closed.
func (c *haCluster) haEnvoy(t *testing.T, name string, failOpen bool) *harness.Envoy {
	t.Helper()
	l := testBootstrap(t, portOf(t, c.app.Listen), c.replicas[0].Ports.Envoy)
	for _, r := range c.replicas[1:] {
		host, _, err := net.SplitHostPort(r.Ports.Envoy)
		if err != nil {
			t.Fatal(err)
		}
		l.MoreWakegates = append(l.MoreWakegates, envoy.Endpoint{Host: host, Port: portOf(t, r.Ports.Envoy)})
	}
	l.WakegateHealthInterval, l.FailureModeAllow = haHealthInterval, failOpen
	var cfg strings.Builder
	if err := envoy.RenderLocal(&cfg, l); err != nil {
		t.Fatal(err)
	}
	return harness.EnvoyForTest(t, harness.EnvoyOptions{Bin: harness.EnvoyBin(t), Config: cfg.String(), Name: name})
}

// haStatus is the part of /status the HA tests read.
type haStatus struct {
	Replica string   `json:"replica"`
	Peers   []haPeer `json:"peers"`
	Targets []struct {
		Name          string   `json:"name"`
		Held          int64    `json:"held"`
		RequestsTotal uint64   `json:"requestsTotal"`
		Merged        haCount  `json:"merged"`
		ReportedBy    []string `json:"reportedBy"`
	} `json:"targets"`
}

type haPeer struct {
	Replica  string `json:"replica"`
	Live     bool   `json:"live"`
	StaleFor string `json:"staleFor"`
}

type haCount struct {
	Held          int64   `json:"held"`
	InFlight      int64   `json:"inFlight"`
	RequestsTotal uint64  `json:"requestsTotal"`
	RequestRate   float64 `json:"requestRate"`
}

// haRow is one target's own and merged counts on one replica.
type haRow struct {
	Held          int64
	RequestsTotal uint64
	Merged        haCount
	ReportedBy    []string
}

// status fetches r's /status.
func (r *haReplica) status(ctx context.Context) (haStatus, error) {
	var doc haStatus
	res, err := tryGet(ctx, r.AdminURL()+"/status", "")
	if err != nil {
		return doc, err
	}
	if err := json.Unmarshal([]byte(res.body), &doc); err != nil {
		return doc, fmt.Errorf("/status of %s: %w", r.id, err)
	}
	return doc, nil
}

// row returns target's row of r's /status, failing t if it cannot.
func (r *haReplica) row(t *testing.T, target string) haRow {
	t.Helper()
	doc, err := r.status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range doc.Targets {
		if ts.Name == target {
			return haRow{Held: ts.Held, RequestsTotal: ts.RequestsTotal, Merged: ts.Merged, ReportedBy: ts.ReportedBy}
		}
	}
	t.Fatalf("/status of %s has no target %s", r.id, target)
	return haRow{}
}

// awaitRow polls r's /status until target's row satisfies cond, and returns it.
func (r *haReplica) awaitRow(t *testing.T, target, what string, cond func(haRow) bool) haRow {
	t.Helper()
	var last haRow
	err := harness.Poll(deadline(t, 20*time.Second), func() (bool, error) {
		last = r.row(t, target)
		return cond(last), fmt.Errorf("%s on %s: %+v", target, r.id, last)
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return last
}

// awaitPeers polls r's /status until its peers (by replica id) satisfy cond.
func (r *haReplica) awaitPeers(t *testing.T, what string, cond func(map[string]haPeer) bool) map[string]haPeer {
	t.Helper()
	var last map[string]haPeer
	err := harness.Poll(deadline(t, 20*time.Second), func() (bool, error) {
		doc, err := r.status(t.Context())
		if err != nil {
			return false, err
		}
		last = map[string]haPeer{}
		for _, p := range doc.Peers {
			last[p.Replica] = p
		}
		return cond(last), fmt.Errorf("peers of %s: %+v", r.id, last)
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return last
}
