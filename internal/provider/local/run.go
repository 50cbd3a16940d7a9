package local

import (
	"context"
	"fmt"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
)

// Run stops targets that have gone idle until ctx is done, then stops every process
// (SIGTERM to its process group, SIGKILL after its StopGracePeriod) and returns nil once
// all have been reaped and every goroutine of the provider has ended. From then on Wake
// returns ErrClosed. A second call returns ErrClosed at once.
func (p *Provider) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ran {
		p.mu.Unlock()
		return fmt.Errorf("local provider: Run called twice: %w", ErrClosed)
	}
	p.ran = true
	for _, t := range p.targets {
		p.wg.Add(1)
		go p.idleLoop(t)
	}
	p.mu.Unlock()
	<-ctx.Done()
	p.shutdown()
	return nil
}

// shutdown refuses further starts, stops every process and waits for all goroutines.
func (p *Provider) shutdown() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	for _, t := range p.targets {
		t.mu.Lock()
		t.rewake = false
		if t.proc != nil {
			if !t.proc.stopping {
				t.log.Info("shutting down, stopping", "pid", t.proc.pid)
			}
			p.stopLocked(t, t.proc)
		}
		t.mu.Unlock()
	}
	p.wg.Wait()
	p.probeClient.CloseIdleConnections()
}

// idleLoop stops t's process once it is idle: nothing in flight or held and no request for
// IdleTimeout. It sleeps on a timer set to the deadline and wakes early at every activity
// edge or change of t's process.
func (p *Provider) idleLoop(t *target) {
	defer p.wg.Done()
	for {
		pr, since, changed := t.idleView()
		stats, edge := p.tracker.Watch(t.spec.Name)
		var timer *time.Timer
		var fire <-chan time.Time
		if pr != nil {
			if at, ok := idleDeadline(stats, since, t.spec.IdleTimeout); ok {
				wait := time.Until(at)
				if wait <= 0 {
					p.stopIdle(t, pr)
					continue
				}
				timer = time.NewTimer(wait)
				fire = timer.C
			}
		}
		select {
		case <-p.ctx.Done():
		case <-changed:
		case <-edge:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if p.ctx.Err() != nil {
			return
		}
	}
}

// idleView returns t's live process (nil if none or stopping), when its idle time starts
// counting (its start, or its readiness once ready), and the change channel.
func (t *target) idleView() (*process, time.Time, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc == nil || t.proc.stopping {
		return nil, time.Time{}, t.changed
	}
	since := t.proc.started
	if t.ready {
		since = t.readyAt
	}
	return t.proc, since, t.changed
}

// idleDeadline returns when a process should be stopped for idleness: timeout after the
// later of the last request and since. ok is false while requests are in flight or held.
func idleDeadline(s activity.Stats, since time.Time, timeout time.Duration) (at time.Time, ok bool) {
	if s.Busy() {
		return time.Time{}, false
	}
	from := since
	if s.LastSeen.After(from) {
		from = s.LastSeen
	}
	return from.Add(timeout), true
}

// stopIdle stops pr if it is still t's live process and nothing became busy meanwhile.
func (p *Provider) stopIdle(t *target, pr *process) {
	if s, _ := p.tracker.Stats(t.spec.Name); s.Busy() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc != pr || pr.stopping {
		return
	}
	t.log.Info("idle, stopping", "pid", pr.pid, "idleTimeout", t.spec.IdleTimeout)
	p.stopLocked(t, pr)
}
