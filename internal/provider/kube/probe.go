package kube

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Release-probe pacing: each connection attempt may take probeDialTimeout; attempts are
// spaced by a back-off that starts at probeFirstBackoff and doubles up to probeMaxBackoff.
// The whole probe is bounded by Options.ProbeBudget.
const (
	probeDialTimeout  = 500 * time.Millisecond
	probeFirstBackoff = 50 * time.Millisecond
	probeMaxBackoff   = 400 * time.Millisecond
)

// errNoAddress ends a probe when the target has no endpoint address to connect to.
var errNoAddress = errors.New("no ready endpoint address")

// probeRun is one release probe; a target refers to the probe that may publish for it.
type probeRun struct {
	cancel context.CancelFunc
	start  time.Time
}

// startProbeLocked starts the release probe of t, which turned ready. Callers hold p.mu.
//
// The EndpointSlice says a pod passed its readiness probe, which does not always mean the
// app accepts connections yet (or that the gateway could reach it). So, before t is
// reported ready, the probe connects to one of its ready endpoints (rotating through
// them), retrying with a short back-off; t is reported ready after the first success or,
// with a warning, once ProbeBudget has passed. If t stops being ready meanwhile, the probe
// is cancelled.
func (p *Provider) startProbeLocked(t *target) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.ProbeBudget)
	run := &probeRun{cancel: cancel, start: time.Now()}
	t.probe = run
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		err := p.dialUntil(ctx, t)
		p.finishProbe(t, run, err)
	}()
}

// stopProbe cancels t's running probe, if any. Callers hold Provider.mu.
func (t *target) stopProbe() {
	if t.probe != nil {
		t.probe.cancel()
		t.probe = nil
	}
}

// dialUntil connects to t's endpoints until one accepts or ctx ends.
func (p *Provider) dialUntil(ctx context.Context, t *target) error {
	backoff := probeFirstBackoff
	for attempt := 0; ; attempt++ {
		addr, ok := p.probeAddr(t, attempt)
		if !ok {
			return errNoAddress
		}
		err := p.dialOnce(ctx, addr)
		if err == nil {
			return nil
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%d attempts, last to %s: %w", attempt+1, addr, err)
		case <-timer.C:
		}
		backoff = min(2*backoff, probeMaxBackoff)
	}
}

// probeAddr picks the endpoint for an attempt from t's current view.
func (p *Provider) probeAddr(t *target, attempt int) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(t.view.addrs) == 0 {
		return "", false
	}
	return t.view.addrs[attempt%len(t.view.addrs)], true
}

func (p *Provider) dialOnce(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, probeDialTimeout)
	defer cancel()
	conn, err := p.opts.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// finishProbe publishes t ready when run is still t's probe (it was not cancelled because
// t stopped being ready or the provider is shutting down).
func (p *Provider) finishProbe(t *target, run *probeRun, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.probe != run || p.ctx.Err() != nil {
		return
	}
	t.probe = nil
	took := time.Since(run.start).Round(time.Millisecond)
	if err != nil {
		p.log.Warn("release probe did not connect; reporting the target ready anyway",
			"target", t.name, "budget", p.opts.ProbeBudget, "took", took, "err", err)
	} else {
		p.log.Debug("release probe connected", "target", t.name, "took", took)
	}
	t.publish(true)
}
