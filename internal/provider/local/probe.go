package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// newProbeClient returns the HTTP client for readiness probes: it talks to the target
// directly (no proxy from the environment), opens a fresh connection per probe and treats
// a redirect as an answer.
func newProbeClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// probeLoop probes pr until it is ready, exits, or shutdown begins.
func (p *Provider) probeLoop(t *target, pr *process) {
	defer p.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-pr.done:
			return
		case <-p.ctx.Done():
			return
		case <-timer.C:
		}
		err := p.probe(t.spec)
		if err == nil {
			t.markReady(pr)
			return
		}
		t.log.Debug("not ready yet", "attempt", attempt, "err", err)
		timer.Reset(t.spec.ReadyInterval)
	}
}

// markReady records that pr passed its probe, unless it is no longer t's live process.
func (t *target) markReady(pr *process) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc != pr || pr.stopping || pr.exited {
		return
	}
	t.ready, t.readyAt = true, time.Now()
	t.broadcastLocked()
	t.log.Info("ready", "pid", pr.pid, "startup", t.readyAt.Sub(pr.started).Round(time.Millisecond))
}

// probe runs one readiness check of s, bounded by the longer of its interval and a second.
func (p *Provider) probe(s Spec) error {
	ctx, cancel := context.WithTimeout(p.ctx, max(s.ReadyInterval, time.Second))
	defer cancel()
	if s.ReadyTCP != "" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", s.ReadyTCP)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ReadyHTTP, nil)
	if err != nil {
		return err
	}
	resp, err := p.probeClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: status %d", s.ReadyHTTP, resp.StatusCode)
	}
	return nil
}
