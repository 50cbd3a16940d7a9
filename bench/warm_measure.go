package main

import (
	"context"
	"fmt"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// warmRow is one mode at one rate, over all rounds. Plain data.
type warmRow struct {
	Rate         int            `json:"rate"`
	Mode         string         `json:"mode"`
	Requests     uint64         `json:"requests"`
	AchievedRate float64        `json:"achievedRate"`
	Success      float64        `json:"success"` // fraction of 2xx/3xx answers
	StatusCodes  map[string]int `json:"statusCodes"`
	Errors       []string       `json:"errors,omitempty"`
	Mean         time.Duration  `json:"mean"`
	P50          time.Duration  `json:"p50"`
	P90          time.Duration  `json:"p90"`
	P99          time.Duration  `json:"p99"`
	Max          time.Duration  `json:"max"`
	// Added and Ratio compare with Envoy alone ("envoy") at the same rate.
	AddedP50 time.Duration `json:"addedP50"`
	AddedP99 time.Duration `json:"addedP99"`
	RatioP50 float64       `json:"ratioP50"`
	RatioP99 float64       `json:"ratioP99"`
	// CPU time per request (user + system, all threads; 10ms resolution over the attacks).
	WakegateCPUPerRequest time.Duration `json:"wakegateCpuPerRequest"`
	EnvoyCPUPerRequest    time.Duration `json:"envoyCpuPerRequest"`
}

// warmReport is the warm scenario's result.
type warmReport struct {
	Rows []warmRow `json:"rows"`
	// GatedRequests were sent through the ext_proc and ext_authz listeners (warm-up
	// included); WakegateReady is wakegate's count of requests it let through at once.
	GatedRequests uint64   `json:"gatedRequests"`
	WakegateReady float64  `json:"wakegateReady"`
	Problems      []string `json:"problems,omitempty"`
}

// runWarm runs the warm scenario: every rate, every round, every mode.
func runWarm(ctx context.Context, e env, o warmOptions) (*warmReport, error) {
	progress("warm: starting wakegate, Envoy and the app")
	s, err := startWarm(ctx, e)
	if err != nil {
		return nil, err
	}
	rep, err := s.measure(ctx, o)
	if stopErr := s.stop.stopAll(); stopErr != nil && err == nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("warm: stopping: %v", stopErr))
	}
	return rep, err
}

// accum gathers one mode's attacks at one rate.
type accum struct {
	metrics vegeta.Metrics
	cpu     usage
}

func (s *warmStack) measure(ctx context.Context, o warmOptions) (*warmReport, error) {
	ms := s.modes()
	rep := &warmReport{}
	if o.Warmup > 0 {
		for _, m := range ms {
			var a accum
			if _, err := s.attack(ctx, m, o.Rates[0], o.Warmup, &a.metrics); err != nil {
				return nil, err
			}
			a.metrics.Close()
			rep.count(m, &a)
			if a.metrics.Success < 1 {
				rep.problem("warm-up of %s at %d req/s: %.2f%% success, codes %v, errors %v", m.name, o.Rates[0],
					100*a.metrics.Success, a.metrics.StatusCodes, a.metrics.Errors)
			}
		}
	}
	for _, rate := range o.Rates {
		acc := make(map[*mode]*accum, len(ms))
		for _, m := range ms {
			acc[m] = &accum{}
		}
		for round := range o.Rounds {
			for i := range ms {
				m := ms[(i+round)%len(ms)] // rotate the order so no mode always runs first
				progress("warm: %d req/s, round %d/%d: %s for %v", rate, round+1, o.Rounds, m.name, o.Duration)
				u, err := s.attack(ctx, m, rate, o.Duration, &acc[m].metrics)
				if err != nil {
					return nil, err
				}
				acc[m].cpu.wakegate += u.wakegate
				acc[m].cpu.envoy += u.envoy
			}
		}
		rep.addRate(rate, ms, acc)
	}
	return rep, s.checkCount(ctx, rep)
}

// count adds the requests of a gated mode to GatedRequests.
func (r *warmReport) count(m *mode, a *accum) {
	if m.listener != listenerDirect {
		r.GatedRequests += a.metrics.Requests
	}
}

func (r *warmReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// addRate closes the metrics of one rate and adds a row per mode, compared with the first
// mode (Envoy alone).
func (r *warmReport) addRate(rate int, ms []*mode, acc map[*mode]*accum) {
	var base warmRow
	for i, m := range ms {
		a := acc[m]
		a.metrics.Close()
		r.count(m, a)
		row := newWarmRow(rate, m.name, a)
		if i == 0 {
			base = row
		}
		row.AddedP50, row.AddedP99 = row.P50-base.P50, row.P99-base.P99
		row.RatioP50, row.RatioP99 = ratio(row.P50, base.P50), ratio(row.P99, base.P99)
		if row.Success < 1 {
			r.problem("%s at %d req/s: %.2f%% success, codes %v, errors %v", m.name, rate, 100*row.Success, row.StatusCodes, row.Errors)
		}
		r.Rows = append(r.Rows, row)
	}
}

func newWarmRow(rate int, name string, a *accum) warmRow {
	m := &a.metrics
	row := warmRow{Rate: rate, Mode: name, Requests: m.Requests, AchievedRate: m.Rate, Success: m.Success,
		StatusCodes: m.StatusCodes, Errors: m.Errors,
		Mean: m.Latencies.Mean, P50: m.Latencies.P50, P90: m.Latencies.P90, P99: m.Latencies.P99, Max: m.Latencies.Max}
	if m.Requests > 0 {
		row.WakegateCPUPerRequest = a.cpu.wakegate / time.Duration(m.Requests)
		row.EnvoyCPUPerRequest = a.cpu.envoy / time.Duration(m.Requests)
	}
	return row
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// checkCount compares the requests sent through the filters with wakegate's own count of
// requests it let through at once: every gated request must have asked wakegate.
func (s *warmStack) checkCount(ctx context.Context, r *warmReport) error {
	m, err := s.wakegate.Metrics(ctx)
	if err != nil {
		return err
	}
	r.WakegateReady = m.Value("wakegate_requests_total", "target", "app", "outcome", "ready")
	if r.WakegateReady != float64(r.GatedRequests) && len(r.Problems) == 0 {
		r.problem("wakegate counted %.0f requests let through, but %d were sent through ext_proc and ext_authz",
			r.WakegateReady, r.GatedRequests)
	}
	return nil
}
