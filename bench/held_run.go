package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// heldReport is the held scenario's result. Plain data.
type heldReport struct {
	Targets  int     `json:"targets"`
	Requests int     `json:"requests"`
	Phases   []phase `json:"phases"` // idle, held, released
	// AllHeldAfter is the time from the first request sent until wakegate held them all
	// (it includes starting every target's process).
	AllHeldAfter time.Duration `json:"allHeldAfter"`
	// HoldCPU is the CPU time used from the first request sent until all were held;
	// ReleaseCPU from opening the readiness port until the last answer.
	HoldCPU    cpuTimes `json:"holdCpu"`
	ReleaseCPU cpuTimes `json:"releaseCpu"`
	// Release delays run from opening the readiness port to each answer; ReleaseMax is the
	// time until the last held request was answered.
	FirstRelease time.Duration  `json:"firstRelease"`
	ReleaseP50   time.Duration  `json:"releaseP50"`
	ReleaseP90   time.Duration  `json:"releaseP90"`
	ReleaseP99   time.Duration  `json:"releaseP99"`
	ReleaseMax   time.Duration  `json:"releaseMax"`
	StatusCodes  map[int]int    `json:"statusCodes"`
	Errors       map[string]int `json:"errors,omitempty"`
	// WakegateReleased is wakegate's count of requests held, then let through.
	WakegateReleased float64  `json:"wakegateReleased"`
	Problems         []string `json:"problems,omitempty"`
}

func (r *heldReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// runHeld runs the held scenario: hold o.Requests requests over o.Targets targets, then
// make every target ready at once and time the release.
func runHeld(ctx context.Context, e env, o heldOptions) (*heldReport, error) {
	progress("held: starting the app, wakegate with %d targets, and Envoy", o.Targets)
	s, err := startHeld(ctx, e, o)
	if err != nil {
		return nil, err
	}
	rep := &heldReport{Targets: o.Targets, Requests: o.Requests}
	err = s.measure(ctx, o, rep)
	if stopErr := s.stop.stopAll(); stopErr != nil && err == nil {
		rep.problem("held: stopping: %v", stopErr)
	}
	return rep, err
}

// measure samples the idle phase, sends the requests, waits until all are held, samples
// again, then releases them and records how.
func (s *heldStack) measure(ctx context.Context, o heldOptions, rep *heldReport) error {
	if _, err := s.addPhase(ctx, rep, "idle"); err != nil {
		return err
	}
	cpu0, err := s.cpu()
	if err != nil {
		return err
	}
	hc := newHeldClient(o.Requests, o.StreamsPerConn)
	defer hc.close()
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	progress("held: sending %d requests for %d targets", o.Requests, o.Targets)
	b := hc.sendAll(reqCtx, s.envoy.URL(listenerExtProc)+"/", o.Requests,
		func(i int) string { return targetHost(i % o.Targets) }, o.HoldTimeout+30*time.Second)
	defer func() { cancel(); <-b.Done() }() // no request outlives the scenario
	if err := s.awaitHeld(ctx, o, b); err != nil {
		return err
	}
	rep.AllHeldAfter = time.Since(b.Started)
	if rep.HoldCPU, err = s.since(cpu0); err != nil {
		return err
	}
	if _, err := s.addPhase(ctx, rep, "held"); err != nil {
		return err
	}
	progress("held: all %d held after %v; opening the readiness port", o.Requests, rep.AllHeldAfter.Round(time.Millisecond))
	if err := s.release(ctx, rep, b); err != nil {
		return err
	}
	return s.afterRelease(ctx, rep)
}

// release opens the readiness port, waits for every request of b to end and records the
// release delays and the CPU time it took.
func (s *heldStack) release(ctx context.Context, rep *heldReport, b *batch) error {
	cpu0, err := s.cpu()
	if err != nil {
		return err
	}
	opened, closeReady, err := openReady(s.readyAddr)
	if err != nil {
		return err
	}
	defer closeReady()
	select {
	case <-b.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if rep.ReleaseCPU, err = s.since(cpu0); err != nil {
		return err
	}
	rep.summarize(b.Results, opened)
	return nil
}

// awaitHeld waits until wakegate holds every request of b. It fails if a request ends
// first (nothing may be answered before the targets are ready) or if holding them all
// takes longer than the hold timeout.
func (s *heldStack) awaitHeld(ctx context.Context, o heldOptions, b *batch) error {
	ctx, cancel := context.WithTimeout(ctx, o.HoldTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond) // /status of many targets is not free
	defer tick.Stop()
	var held int64
	for {
		if n := b.Finished(); n > 0 {
			return fmt.Errorf("%d request(s) ended before the targets were ready, the first: %s; Envoy: %s",
				n, b.FirstEnded(), s.envoyDiag(ctx))
		}
		var err error
		if held, err = s.heldNow(ctx); err != nil {
			return err
		}
		if held == int64(o.Requests) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d held requests (wakegate holds %d): %w; Envoy: %s",
				o.Requests, held, ctx.Err(), s.envoyDiag(context.WithoutCancel(ctx)))
		case <-tick.C:
		}
	}
}

// openReady starts listening on addr, accepting and closing connections (the targets'
// TCP readiness probes), and returns when it started. closeFn stops it.
func openReady(addr string) (opened time.Time, closeFn func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("open the readiness port: %w", err)
	}
	opened = time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			_ = c.Close() // a probe only needs the connection to be accepted
		}
	}()
	return opened, func() { _ = ln.Close(); <-done }, nil
}

// summarize turns the requests' ends into release delays and status counts.
func (r *heldReport) summarize(results []heldResult, opened time.Time) {
	r.StatusCodes, r.Errors = map[int]int{}, map[string]int{}
	delays := make([]time.Duration, 0, len(results))
	for _, res := range results {
		if res.Err != nil {
			r.Errors[res.Err.Error()]++
			continue
		}
		r.StatusCodes[res.Status]++
		delays = append(delays, res.End.Sub(opened))
	}
	slices.Sort(delays)
	if len(delays) > 0 {
		r.FirstRelease, r.ReleaseMax = delays[0], delays[len(delays)-1]
		r.ReleaseP50, r.ReleaseP90, r.ReleaseP99 = percentile(delays, 50), percentile(delays, 90), percentile(delays, 99)
	}
	if len(r.Errors) > 0 || r.StatusCodes[200] != r.Requests {
		r.problem("held: %d of %d requests answered 200; codes %v, errors %v", r.StatusCodes[200], r.Requests, r.StatusCodes, r.Errors)
	}
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.9999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// afterRelease waits for wakegate to hold nothing, records the last phase and checks
// wakegate's own count of released requests.
func (s *heldStack) afterRelease(ctx context.Context, rep *heldReport) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		n, err := s.heldNow(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wakegate still holds %d requests after they were answered: %w", n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	m, err := s.addPhase(ctx, rep, "released")
	if err != nil {
		return err
	}
	rep.WakegateReleased = m.Value("wakegate_requests_total", "outcome", "released")
	if rep.WakegateReleased != float64(rep.Requests) {
		rep.problem("held: wakegate counted %.0f requests released, want %d", rep.WakegateReleased, rep.Requests)
	}
	return nil
}

// addPhase samples the phase name into rep and returns the /metrics scrape it made.
func (s *heldStack) addPhase(ctx context.Context, rep *heldReport, name string) (harness.Metrics, error) {
	p, m, err := s.sample(ctx, name)
	if err != nil {
		return m, fmt.Errorf("measure %s: %w", name, err)
	}
	rep.Phases = append(rep.Phases, p)
	return m, nil
}
