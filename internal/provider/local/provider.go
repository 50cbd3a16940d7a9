// Package local is wakegate's provider for local processes: a target is a command that is
// started on the first Wake, probed until it is ready, and stopped (SIGTERM, then SIGKILL)
// once it has been idle for its IdleTimeout or when the provider shuts down.
//
// Each process runs in its own process group with a parent-death signal of SIGKILL, so
// stopping it reaches its children too and a wakegate that is killed leaves no orphans.
// When a process exits, whatever is left of its group is killed as well. (Linux delivers the
// parent-death signal when the forking thread ends; Go keeps its threads unless a goroutine
// exits while locked to one, which wakegate does not do.)
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
)

var _ gate.Provider = (*Provider)(nil)

// ErrClosed is returned by Wake once Run has begun shutting down, and by a second Run.
var ErrClosed = errors.New("local provider is shut down")

// Spec describes one target's process.
type Spec struct {
	Name    string            // target name; unique
	Command []string          // program and arguments; Command[0] is looked up in PATH if it has no slash
	Dir     string            // working directory; "" means wakegate's own
	Env     map[string]string // added to wakegate's environment (overriding it)

	// Exactly one readiness check: ReadyHTTP is a URL that must answer 2xx or 3xx;
	// ReadyTCP is a host:port that must accept a connection.
	ReadyHTTP, ReadyTCP string

	ReadyInterval   time.Duration // pause between readiness probes; > 0
	IdleTimeout     time.Duration // stop after this long without requests; > 0
	StopGracePeriod time.Duration // SIGTERM, then SIGKILL after this; >= 0
}

// Options configure a Provider. Tracker is required.
type Options struct {
	Specs   []Spec
	Tracker *activity.Tracker // request activity, for idle stops
	Logger  *slog.Logger      // nil: discard
}

// Provider starts, probes and stops local processes. It is safe for concurrent use.
//
// Lifecycle: Wake may be called as soon as New returns; a process started before Run is
// adopted by Run. Run watches for idle targets until its context is done, then stops every
// process and returns once all of them have been reaped. After that, Wake returns
// ErrClosed. Run may be called only once.
type Provider struct {
	log     *slog.Logger
	tracker *activity.Tracker
	targets map[string]*target // fixed by New

	ctx    context.Context // done when shutdown begins; bounds probes and restarts
	cancel context.CancelFunc

	probeClient *http.Client // readiness probes; no proxy, no keep-alive, no redirects

	mu     sync.RWMutex // guards closed and ran; held (read) while processes are started
	closed bool
	ran    bool
	wg     sync.WaitGroup // idle loops, reapers, probers, terminators
}

// New checks specs and returns a Provider with no process running.
func New(opts Options) (*Provider, error) {
	if opts.Tracker == nil {
		return nil, errors.New("local provider: Tracker is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	targets := make(map[string]*target, len(opts.Specs))
	var errs []error
	for i, s := range opts.Specs {
		if err := s.validate(); err != nil {
			errs = append(errs, fmt.Errorf("local provider: spec %d (%q): %w", i, s.Name, err))
			continue
		}
		if targets[s.Name] != nil {
			errs = append(errs, fmt.Errorf("local provider: spec %d: duplicate target name %q", i, s.Name))
			continue
		}
		targets[s.Name] = newTarget(s, opts.Logger)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{log: opts.Logger, tracker: opts.Tracker, targets: targets,
		ctx: ctx, cancel: cancel, probeClient: newProbeClient()}, nil
}

func (s Spec) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Name == "" {
		add("name is empty")
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		add("command is empty")
	}
	switch {
	case (s.ReadyHTTP == "") == (s.ReadyTCP == ""):
		add("exactly one of ReadyHTTP and ReadyTCP is required")
	case s.ReadyHTTP != "":
		if u, err := url.Parse(s.ReadyHTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("ReadyHTTP %q: want an http:// or https:// URL with a host", s.ReadyHTTP)
		}
	default:
		if _, _, err := net.SplitHostPort(s.ReadyTCP); err != nil {
			add("ReadyTCP %q: %w", s.ReadyTCP, err)
		}
	}
	if s.ReadyInterval <= 0 {
		add("ReadyInterval %s: must be positive", s.ReadyInterval)
	}
	if s.IdleTimeout <= 0 {
		add("IdleTimeout %s: must be positive", s.IdleTimeout)
	}
	if s.StopGracePeriod < 0 {
		add("StopGracePeriod %s: must not be negative", s.StopGracePeriod)
	}
	return errors.Join(errs...)
}

// Ready reports whether target's process is running and has passed its readiness probe,
// and returns a channel closed at its next change (start, ready, stopping, exit).
// An unknown target is never ready; its channel is never closed.
func (p *Provider) Ready(name string) (bool, <-chan struct{}) {
	t := p.targets[name]
	if t == nil {
		return false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready, t.changed
}

// Wake starts target's process unless it is already starting or running; it does not wait
// for readiness. A Wake while the process is being stopped makes it start again once the
// old one has exited. It fails for an unknown target, if the process cannot be started, or
// with ErrClosed once shutdown has begun.
func (p *Provider) Wake(ctx context.Context, name string) error {
	t := p.targets[name]
	if t == nil {
		return fmt.Errorf("local provider: unknown target %q", name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local provider: wake %q: %w", name, err)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("local provider: wake %q: %w", name, ErrClosed)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.proc == nil:
		return p.startLocked(t)
	case t.proc.stopping:
		t.rewake = true
	}
	return nil
}

// Status is a point-in-time view of one target's process.
type Status struct {
	Running  bool      // a process exists (starting, ready or stopping)
	Ready    bool      // it passed its readiness probe and is not being stopped
	Stopping bool      // it was sent SIGTERM and has not exited yet
	PID      int       // 0 if not running
	Started  time.Time // when the process was started; zero if not running
	ReadyAt  time.Time // when it became ready; zero if not ready
}

// Status returns target's process status; ok is false for an unknown target.
func (p *Provider) Status(name string) (s Status, ok bool) {
	t := p.targets[name]
	if t == nil {
		return Status{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s.Ready = t.ready
	if pr := t.proc; pr != nil {
		s.Running, s.Stopping, s.PID, s.Started = true, pr.stopping, pr.pid, pr.started
		if t.ready {
			s.ReadyAt = t.readyAt
		}
	}
	return s, true
}
