package gate

import (
	"context"
	"sync"
	"time"
)

// fakeProvider is a Provider whose targets are ready when the test says so. Every readiness
// change closes and replaces the target's channel. It records Wake calls (with the fake
// time of each) and can be told to fail them. Safe for concurrent use.
type fakeProvider struct {
	mu      sync.Mutex
	targets map[string]*fakeTarget
	wakeErr error
	// onReady, if set, runs after every Ready call, outside the lock, on the caller's
	// goroutine, with the answer Ready is about to return.
	onReady func(target string, ready bool)
}

type fakeTarget struct {
	ready   bool
	changed chan struct{}
	wakes   []time.Time
}

var _ Provider = (*fakeProvider)(nil)

func newFakeProvider() *fakeProvider {
	return &fakeProvider{targets: map[string]*fakeTarget{}}
}

// target returns name's state, creating it (not ready). p.mu must be held.
func (p *fakeProvider) target(name string) *fakeTarget {
	t := p.targets[name]
	if t == nil {
		t = &fakeTarget{changed: make(chan struct{})}
		p.targets[name] = t
	}
	return t
}

func (p *fakeProvider) Ready(name string) (bool, <-chan struct{}) {
	p.mu.Lock()
	t := p.target(name)
	ready, ch, hook := t.ready, t.changed, p.onReady
	p.mu.Unlock()
	if hook != nil {
		hook(name, ready)
	}
	return ready, ch
}

func (p *fakeProvider) Wake(_ context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.target(name)
	t.wakes = append(t.wakes, time.Now())
	return p.wakeErr
}

// setReady changes name's readiness; a change closes and replaces its channel.
func (p *fakeProvider) setReady(name string, ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.target(name)
	if t.ready == ready {
		return
	}
	t.ready = ready
	close(t.changed)
	t.changed = make(chan struct{})
}

// setReadyQuietly changes name's readiness without closing its channel, like a provider
// whose notification lags behind its state.
func (p *fakeProvider) setReadyQuietly(name string, ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target(name).ready = ready
}

// failWake makes every later Wake return err (nil: succeed again).
func (p *fakeProvider) failWake(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wakeErr = err
}

func (p *fakeProvider) setOnReady(f func(target string, ready bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onReady = f
}

// wakes returns when each Wake call for name was made.
func (p *fakeProvider) wakes(name string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.target(name).wakes...)
}
