package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// heldOptions configure the held-requests scenario.
type heldOptions struct {
	Targets        int           `json:"targets"`
	Requests       int           `json:"requests"`
	ReadyInterval  time.Duration `json:"readyInterval"`
	HoldTimeout    time.Duration `json:"holdTimeout"`
	StreamsPerConn int           `json:"streamsPerConn"`
}

// perTarget is the most requests held for one target (the targets' maxHeld).
func (o heldOptions) perTarget() int { return (o.Requests + o.Targets - 1) / o.Targets }

// targetName and targetHost name target i (0-based).
func targetName(i int) string { return fmt.Sprintf("t%04d", i+1) }
func targetHost(i int) string { return targetName(i) + ".bench" }

// heldConfig returns wakegate's configuration: every target is a cheap `sleep` whose
// readiness is one shared loopback address where nothing listens until the benchmark opens
// it, so all targets stay at "not ready" until then and become ready within one probe
// interval of it.
func heldConfig(o heldOptions, readyAddr string) harness.LocalConfig {
	var c harness.LocalConfig
	for i := range o.Targets {
		c.Targets = append(c.Targets, harness.LocalTarget{
			Name: targetName(i), Match: harness.Match{Hosts: []string{targetHost(i)}},
			Process:     harness.ProcessSpec{Command: []string{"sleep", "3600"}},
			Readiness:   harness.ReadinessCheck{TCP: readyAddr, Interval: o.ReadyInterval.String()},
			IdleTimeout: "1h", HoldTimeout: o.HoldTimeout.String(), WaitingPage: "off",
			StopGracePeriod: "2s", MaxHeld: o.perTarget(),
		})
	}
	return c
}

// heldStack is the running held scenario: the app (started by the benchmark, always ready),
// wakegate with the sleeping targets, and Envoy.
type heldStack struct {
	wakegate  *harness.Wakegate
	envoy     *harness.Envoy
	app       *harness.SampleApp
	readyAddr string // where the targets' readiness probes knock
	stop      stopper
}

// startHeld starts the held scenario's processes. On error it stops what it started.
func startHeld(ctx context.Context, e env, o heldOptions) (*heldStack, error) {
	dir, err := e.scenarioDir("held")
	if err != nil {
		return nil, err
	}
	s := &heldStack{}
	ctx, cancel := context.WithTimeout(ctx, harness.StartTimeout)
	defer cancel()
	if err := s.start(ctx, e, o, dir); err != nil {
		return nil, errors.Join(err, s.stop.stopAll())
	}
	return s, nil
}

func (s *heldStack) start(ctx context.Context, e env, o heldOptions, dir string) error {
	appPort, err := harness.FreePort()
	if err != nil {
		return err
	}
	readyPort, err := harness.FreePort()
	if err != nil {
		return err
	}
	s.readyAddr = "127.0.0.1:" + strconv.Itoa(readyPort)
	app, err := harness.StartSampleApp(ctx, dir, harness.SampleAppOptions{Bin: e.bins.SampleApp, Listen: "127.0.0.1:" + strconv.Itoa(appPort)})
	if err != nil {
		return err
	}
	s.app = app
	s.stop.add(app)
	s.wakegate, s.envoy, err = startGated(ctx, e, gatedOptions{dir: dir, config: heldConfig(o, s.readyAddr),
		args: []string{"--log-level", "info", "--max-held", strconv.Itoa(o.Requests)}, appPort: appPort, hold: o.HoldTimeout}, &s.stop)
	return err
}

// phase is what wakegate and Envoy use at one moment. Plain data.
type phase struct {
	Name     string `json:"name"`
	Wakegate memory `json:"wakegate"`
	Envoy    memory `json:"envoy"`
	// From wakegate's /metrics, scraped after the memory was read (a scrape with many
	// targets allocates): goroutines and the Go heap in use.
	Goroutines   float64 `json:"goroutines"`
	HeapInuse    float64 `json:"heapInuseBytes"`
	MetricsBytes int     `json:"metricsBytes"` // size of the /metrics answer
}

// sample reads the memory of wakegate and Envoy, then scrapes wakegate's /metrics, which
// it returns too.
func (s *heldStack) sample(ctx context.Context, name string) (phase, harness.Metrics, error) {
	p := phase{Name: name}
	var err error
	if p.Wakegate, err = readMemory(s.wakegate.PID()); err != nil {
		return p, harness.Metrics{}, err
	}
	if p.Envoy, err = readMemory(s.envoy.PID()); err != nil {
		return p, harness.Metrics{}, err
	}
	body, err := getBody(ctx, s.wakegate.AdminURL()+"/metrics")
	if err != nil {
		return p, harness.Metrics{}, err
	}
	m, err := harness.ParseMetrics(body)
	if err != nil {
		return p, m, err
	}
	p.Goroutines, p.HeapInuse, p.MetricsBytes = m.Value("go_goroutines"), m.Value("go_memstats_heap_inuse_bytes"), len(body)
	return p, m, nil
}

// maxAdminBody bounds what the benchmark reads from wakegate's admin interface; /metrics
// with thousands of targets is several megabytes.
const maxAdminBody = 256 << 20

// getBody fetches url and returns the body of a 200 answer.
func getBody(ctx context.Context, url string) ([]byte, error) {
	return harness.GetBody(ctx, url, maxAdminBody)
}

// heldNow returns the number of requests wakegate holds, from /status.
func (s *heldStack) heldNow(ctx context.Context) (int64, error) {
	body, err := getBody(ctx, s.wakegate.AdminURL()+"/status")
	if err != nil {
		return 0, err
	}
	var doc struct {
		Targets []harness.TargetStatus `json:"targets"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return 0, fmt.Errorf("/status: %w", err)
	}
	var n int64
	for _, t := range doc.Targets {
		n += t.Held
	}
	return n, nil
}

// cpuTimes is the CPU time (user + system) each process used during a stretch of the run.
type cpuTimes struct {
	Wakegate time.Duration `json:"wakegate"`
	Envoy    time.Duration `json:"envoy"`
	App      time.Duration `json:"app"`
}

// cpu returns the CPU time each process has used so far.
func (s *heldStack) cpu() (cpuTimes, error) {
	var c cpuTimes
	var err error
	for _, p := range []struct {
		pid int
		to  *time.Duration
	}{{s.wakegate.PID(), &c.Wakegate}, {s.envoy.PID(), &c.Envoy}, {s.app.PID(), &c.App}} {
		if *p.to, err = readCPU(p.pid); err != nil {
			return c, err
		}
	}
	return c, nil
}

// since returns the CPU time used between an earlier reading and now.
func (s *heldStack) since(before cpuTimes) (cpuTimes, error) {
	now, err := s.cpu()
	return cpuTimes{Wakegate: now.Wakegate - before.Wakegate, Envoy: now.Envoy - before.Envoy, App: now.App - before.App}, err
}

// envoyDiagStats selects the Envoy statistics that explain failed held requests: the
// connections and streams to wakegate, HTTP/2 protection limits, and ext_proc's own.
const envoyDiagStats = `(cluster\.wakegate\.upstream_(cx|rq)_|http2\.|ext_proc\.)`

// envoyDiag returns the non-zero statistics of envoyDiagStats, for an error message.
func (s *heldStack) envoyDiag(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stats, err := s.envoy.Stats(ctx, envoyDiagStats)
	if err != nil {
		return fmt.Sprintf("(no stats: %v)", err)
	}
	names := slices.Sorted(maps.Keys(stats))
	var b strings.Builder
	for _, n := range names {
		if stats[n] != 0 {
			fmt.Fprintf(&b, "%s=%d ", n, stats[n])
		}
	}
	return strings.TrimSpace(b.String())
}
