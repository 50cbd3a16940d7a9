package app

import (
	"context"
	"sync"

	"github.com/wakegate/wakegate/internal/gate"
)

// fakeProvider is a gate.Provider whose targets are ready when the test says so. Every
// readiness change closes and replaces the target's channel; Wake calls are counted and
// announced on woken. Safe for concurrent use.
type fakeProvider struct {
	mu      sync.Mutex
	ready   map[string]bool
	changed map[string]chan struct{}
	wakes   map[string]int
	woken   chan string // receives the target of every Wake; buffered, never blocks Wake
}

var _ gate.Provider = (*fakeProvider)(nil)

func newFakeProvider() *fakeProvider {
	return &fakeProvider{ready: map[string]bool{}, changed: map[string]chan struct{}{}, wakes: map[string]int{},
		woken: make(chan string, 100)}
}

// ch returns target's change channel, creating it. p.mu must be held.
func (p *fakeProvider) ch(target string) chan struct{} {
	c := p.changed[target]
	if c == nil {
		c = make(chan struct{})
		p.changed[target] = c
	}
	return c
}

func (p *fakeProvider) Ready(target string) (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready[target], p.ch(target)
}

func (p *fakeProvider) Wake(_ context.Context, target string) error {
	p.mu.Lock()
	p.wakes[target]++
	p.mu.Unlock()
	select {
	case p.woken <- target:
	default:
	}
	return nil
}

// setReady changes target's readiness and wakes its watchers.
func (p *fakeProvider) setReady(target string, ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready[target] = ready
	close(p.ch(target))
	p.changed[target] = make(chan struct{})
}
