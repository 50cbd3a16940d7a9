package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/wakegate/wakegate/integration/harness"
)

// warmOptions configure the warm-path scenario.
type warmOptions struct {
	Rates    []int         `json:"rates"`
	Duration time.Duration `json:"duration"` // one measured attack: one mode, one rate, one round
	Rounds   int           `json:"rounds"`
	Warmup   time.Duration `json:"warmup"` // one unmeasured attack per mode first
}

// warmHost is the Host of the warm scenario's one target.
const warmHost = "app.bench"

// warmStack is the running warm scenario: wakegate (which runs the sample app as its one
// target) and Envoy in front of both.
type warmStack struct {
	wakegate *harness.Wakegate
	envoy    *harness.Envoy
	stop     stopper
}

// startWarm starts wakegate with one target, the sample app, and Envoy with the three
// listeners, then wakes the app with one request. On error it stops what it started.
func startWarm(ctx context.Context, e env) (*warmStack, error) {
	dir, err := e.scenarioDir("warm")
	if err != nil {
		return nil, err
	}
	appPort, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	app := harness.SampleAppOptions{Bin: e.bins.SampleApp, Listen: "127.0.0.1:" + strconv.Itoa(appPort)}
	cfg := harness.LocalConfig{Targets: []harness.LocalTarget{{
		Name: "app", Match: harness.Match{Hosts: []string{warmHost}},
		Process:   harness.ProcessSpec{Command: app.Command()},
		Readiness: harness.ReadinessCheck{HTTP: app.HealthURL()},
		// Never idle during the run, and a hold far longer than the app's start.
		IdleTimeout: "1h", HoldTimeout: "30s",
	}}}
	s := &warmStack{}
	ctx, cancel := context.WithTimeout(ctx, harness.StartTimeout)
	defer cancel()
	if err := s.start(ctx, e, dir, cfg, appPort); err != nil {
		return nil, errors.Join(err, s.stop.stopAll())
	}
	return s, nil
}

func (s *warmStack) start(ctx context.Context, e env, dir string, cfg harness.LocalConfig, appPort int) error {
	var err error
	s.wakegate, s.envoy, err = startGated(ctx, e, gatedOptions{dir: dir, config: cfg, args: []string{"--log-level", "info"},
		appPort: appPort, hold: 30 * time.Second}, &s.stop)
	if err != nil {
		return err
	}
	return wake(ctx, s.envoy.URL(listenerExtProc)+"/", warmHost)
}

// wake sends one request through url with the given Host and wants a 200: the first
// request to a target at zero is held until the target is ready.
func wake(ctx context.Context, url, host string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("wake %s: %w", host, err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("wake %s: %w", host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body) // the status is what counts
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wake %s: status %d, want 200", host, resp.StatusCode)
	}
	return nil
}

// mode is one way through Envoy: a listener, and the HTTP client its attacks share so that
// their keep-alive connections stay open from one attack to the next. (A vegeta Attacker
// cannot be reused: it stops for good at the end of its attack.)
type mode struct {
	name     string // as reported
	listener string
	client   *http.Client
	targeter vegeta.Targeter
}

// warmModeNames are the reported names of the listeners, in report order.
var warmModeNames = map[string]string{
	listenerDirect:   "envoy",
	listenerExtProc:  "envoy+ext_proc",
	listenerExtAuthz: "envoy+ext_authz",
}

func (s *warmStack) modes() []*mode {
	ms := make([]*mode, 0, len(benchListeners))
	for _, l := range benchListeners {
		target := vegeta.Target{Method: http.MethodGet, URL: s.envoy.URL(l.Name) + "/", Header: http.Header{"Host": {warmHost}}}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy: nil, MaxIdleConnsPerHost: 10000, DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext}}
		ms = append(ms, &mode{name: warmModeNames[l.Name], listener: l.Name, client: client,
			targeter: vegeta.NewStaticTargeter(target)})
	}
	return ms
}

// usage is the CPU time processes spent during attacks.
type usage struct {
	wakegate, envoy time.Duration
}

// attack runs one constant-rate attack on m and adds its results to into (nil: discard).
// It returns the CPU time wakegate and Envoy used meanwhile. ctx's end stops the attack.
func (s *warmStack) attack(ctx context.Context, m *mode, rate int, d time.Duration, into *vegeta.Metrics) (usage, error) {
	before, err := s.cpu()
	if err != nil {
		return usage{}, err
	}
	a := vegeta.NewAttacker(vegeta.Client(m.client))
	stop := context.AfterFunc(ctx, func() { a.Stop() })
	defer stop()
	for r := range a.Attack(m.targeter, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, m.name) {
		if into != nil {
			into.Add(r)
		}
	}
	if err := ctx.Err(); err != nil {
		return usage{}, err
	}
	after, err := s.cpu()
	return usage{wakegate: after.wakegate - before.wakegate, envoy: after.envoy - before.envoy}, err
}

func (s *warmStack) cpu() (usage, error) {
	w, err := readCPU(s.wakegate.PID())
	if err != nil {
		return usage{}, err
	}
	e, err := readCPU(s.envoy.PID())
	return usage{wakegate: w, envoy: e}, err
}

// gatedOptions describe wakegate with Envoy in front of it, as both scenarios run them.
type gatedOptions struct {
	dir     string
	config  harness.LocalConfig
	args    []string // more wakegate flags
	appPort int      // the app cluster's port
	hold    time.Duration
}

// startGated starts wakegate, then Envoy with its three listeners pointed at it; each
// started process is added to stop.
func startGated(ctx context.Context, e env, o gatedOptions, stop *stopper) (*harness.Wakegate, *harness.Envoy, error) {
	wg, err := harness.StartWakegate(ctx, harness.WakegateOptions{Bin: e.bins.Wakegate, Config: o.config, Dir: o.dir, Args: o.args})
	if err != nil {
		return nil, nil, err
	}
	stop.add(wg)
	wgPort, err := portOf(wg.Ports.Envoy)
	if err != nil {
		return wg, nil, err
	}
	ev, err := startEnvoy(ctx, envoyStartOptions{Bin: e.envoy, Dir: o.dir, Name: "envoy", Concurrency: e.concurrency,
		Config: newEnvoyConfig(o.appPort, wgPort, o.hold)})
	if err != nil {
		return wg, nil, err
	}
	stop.add(ev)
	return wg, ev, nil
}
