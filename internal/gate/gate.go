package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/route"
	"github.com/wakegate/wakegate/internal/telemetry"
)

// Options configure a Gate. Provider and Tracker are required.
type Options struct {
	Provider Provider
	Tracker  *activity.Tracker
	Metrics  *telemetry.Metrics // nil: unregistered metrics
	Logger   *slog.Logger       // nil: discard
	// MaxHeld bounds requests held across all targets (DefaultMaxHeldAll if 0).
	MaxHeld int
	// RetryAfter is sent with every 503 (DefaultRetryAfter if 0).
	RetryAfter time.Duration
	// WakeBackoff is the first pause before Wake is called again for a target that is still
	// not ready (1s if 0); it doubles up to MaxWakeBackoff (30s if 0).
	WakeBackoff, MaxWakeBackoff time.Duration
}

// Gate holds requests for targets that are not ready and wakes those targets.
// It is safe for concurrent use. Create it with New, give it targets with Configure, and
// Close it when done; Close waits for its wake loops.
type Gate struct {
	opts    Options
	p       Provider
	tracker *activity.Tracker
	m       *telemetry.Metrics
	log     *slog.Logger

	cfg     atomic.Pointer[config]
	heldAll atomic.Int64

	drainOnce sync.Once
	drain     chan struct{} // closed by Drain
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // wake loops
}

type config struct {
	table   *route.Table
	targets map[string]*targetState
}

// New returns a Gate with no targets.
func New(opts Options) (*Gate, error) {
	if opts.Provider == nil || opts.Tracker == nil {
		return nil, errors.New("gate: Provider and Tracker are required")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Metrics == nil {
		m, err := telemetry.NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		opts.Metrics = m
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.MaxHeld = orInt(opts.MaxHeld, DefaultMaxHeldAll)
	opts.RetryAfter = orDur(opts.RetryAfter, DefaultRetryAfter)
	opts.WakeBackoff = orDur(opts.WakeBackoff, time.Second)
	opts.MaxWakeBackoff = orDur(opts.MaxWakeBackoff, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gate{opts: opts, p: opts.Provider, tracker: opts.Tracker, m: opts.Metrics, log: opts.Logger,
		drain: make(chan struct{}), ctx: ctx, cancel: cancel}
	g.cfg.Store(&config{targets: map[string]*targetState{}})
	return g, nil
}

// Configure replaces the set of targets. Requests being held keep their target's state;
// targets that disappear stop matching new requests. It returns every rule problem found
// and leaves the previous configuration in place on error.
func (g *Gate) Configure(targets []Target) error {
	rules := make([]route.Rule, 0, len(targets))
	errs := validatePolicies(targets)
	for _, t := range targets {
		rules = append(rules, t.Rule)
	}
	table, err := route.New(rules)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	old := g.cfg.Load()
	next := &config{table: table, targets: make(map[string]*targetState, len(targets))}
	for _, t := range targets {
		st := old.targets[t.Rule.Target]
		if st == nil {
			st = newTargetState(t.Rule.Target, g.m)
		}
		p := t.Policy
		p.MaxHeld = orInt(p.MaxHeld, DefaultMaxHeld)
		st.policy.Store(&p)
		next.targets[t.Rule.Target] = st
	}
	g.cfg.Store(next)
	return nil
}

// validatePolicies checks each target's policy. A name may appear in several Targets (one
// rule each) only with the same policy, since the gate keeps one policy per target.
func validatePolicies(targets []Target) []error {
	var errs []error
	seen := make(map[string]Policy, len(targets))
	for _, t := range targets {
		name, p := t.Rule.Target, t.Policy
		if p.HoldTimeout <= 0 {
			errs = append(errs, fmt.Errorf("target %q: holdTimeout must be positive", name))
		}
		if p.MaxHeld < 0 {
			errs = append(errs, fmt.Errorf("target %q: maxHeld must not be negative", name))
		}
		if p.WaitingPage < PageOnTimeout || p.WaitingPage > PageOff {
			errs = append(errs, fmt.Errorf("target %q: unknown waitingPage %d", name, int(p.WaitingPage)))
		}
		p.MaxHeld = orInt(p.MaxHeld, DefaultMaxHeld)
		if prev, dup := seen[name]; dup && prev != p {
			errs = append(errs, fmt.Errorf("target %q: listed more than once with different policies", name))
		}
		seen[name] = p
	}
	return errs
}

// Check decides what happens to req, holding it if its target is not ready. It returns
// when the decision is made: at once for ready or unmatched targets, or after the target
// became ready, the hold timed out, ctx ended (Canceled) or the gate drained.
// A Decision with a Target must be passed to Finish when the HTTP request ends.
func (g *Gate) Check(ctx context.Context, req Request) Decision {
	st := g.cfg.Load().lookup(req)
	if st == nil {
		g.m.Unmatched.Inc()
		return Decision{Outcome: Pass}
	}
	g.tracker.Begin(st.name)
	if ready, _ := g.p.Ready(st.name); ready {
		st.outcomes[Ready].Inc()
		return Decision{Outcome: Ready, Target: st.name}
	}
	return g.hold(ctx, st, req)
}

// Finish ends the request d was decided for (in-flight accounting).
func (g *Gate) Finish(d Decision) {
	if d.Target != "" {
		g.tracker.End(d.Target)
	}
}

func (c *config) lookup(req Request) *targetState {
	name := req.Target
	if name == "" {
		var ok bool
		if name, ok = c.table.Match(req.Request); !ok {
			return nil
		}
	}
	return c.targets[name]
}

// Drain makes the gate answer every held request now (Released if its target became
// ready, Draining otherwise) and answer new requests for targets that are not ready with
// Draining instead of holding them. It is idempotent.
func (g *Gate) Drain() { g.drainOnce.Do(func() { close(g.drain) }) }

// Draining reports whether Drain was called.
func (g *Gate) Draining() bool {
	select {
	case <-g.drain:
		return true
	default:
		return false
	}
}

// Close stops the wake loops and waits for them. Call Drain first and wait for held
// requests to be answered; Close does not answer them.
func (g *Gate) Close() {
	g.cancel()
	g.wg.Wait()
}

// validate rejects negative bounds and durations: a negative back-off would make the wake
// loop call Wake without pause, a negative MaxHeld would refuse every hold.
func (o Options) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		bad  bool
	}{
		{"MaxHeld", o.MaxHeld < 0},
		{"RetryAfter", o.RetryAfter < 0},
		{"WakeBackoff", o.WakeBackoff < 0},
		{"MaxWakeBackoff", o.MaxWakeBackoff < 0},
	} {
		if f.bad {
			errs = append(errs, fmt.Errorf("gate: %s must not be negative", f.name))
		}
	}
	return errors.Join(errs...)
}

func orInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func orDur(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}
