// Package gate decides, for each request, whether it may go on to its target now, must be
// held until the target is ready, or is answered by wakegate (503, waiting page). It is the
// one piece the ext_proc and ext_authz adapters share; it imports no gRPC or Envoy types.
package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/wakegate/wakegate/internal/route"
)

// Provider brings targets up and reports their readiness. Implementations (local
// processes, Kubernetes) must be safe for concurrent use.
type Provider interface {
	// Ready reports whether target can serve now, and returns a channel that is closed the
	// next time target's readiness may have changed. The channel is never sent on; callers
	// call Ready again after it closes. An unknown target is not ready.
	Ready(target string) (ready bool, changed <-chan struct{})
	// Wake asks for target to be started (or scaled from zero). It should return quickly
	// and be idempotent: the gate calls it again, with back-off, while requests wait and the
	// target is still not ready.
	Wake(ctx context.Context, target string) error
}

// WaitingPage says when browsers get the HTML waiting page instead of plain 503.
type WaitingPage int

const (
	// PageOnTimeout: browsers are held like any client and get the page if the hold times out.
	PageOnTimeout WaitingPage = iota
	// PageImmediate: a browser navigation to a target that is not ready gets the page at
	// once (the wake still starts); other clients are held.
	PageImmediate
	// PageOff: everyone gets plain 503 + Retry-After.
	PageOff
)

// ParseWaitingPage parses "onTimeout", "immediate" or "off" ("" means onTimeout).
func ParseWaitingPage(s string) (WaitingPage, error) {
	switch s {
	case "", "onTimeout":
		return PageOnTimeout, nil
	case "immediate":
		return PageImmediate, nil
	case "off":
		return PageOff, nil
	}
	return 0, fmt.Errorf("waitingPage %q: want onTimeout, immediate or off", s)
}

func (w WaitingPage) String() string {
	switch w {
	case PageImmediate:
		return "immediate"
	case PageOff:
		return "off"
	}
	return "onTimeout"
}

// Policy is the per-target hold behaviour.
type Policy struct {
	HoldTimeout time.Duration // how long a request may wait; must be > 0
	WaitingPage WaitingPage
	MaxHeld     int // most requests held at once for this target; 0 means DefaultMaxHeld
}

// Defaults for Policy and Options.
const (
	DefaultHoldTimeout = 60 * time.Second
	DefaultMaxHeld     = 1000
	DefaultMaxHeldAll  = 10000
	DefaultRetryAfter  = 5 * time.Second
)

// Target pairs a routing rule with its policy.
type Target struct {
	Rule   route.Rule // Rule.Target is the target's name
	Policy Policy
}

// Outcome is how the gate answered a request.
type Outcome int

const (
	Pass     Outcome = iota // no target matched: continue untouched, not counted
	Ready                   // target was ready: continue at once
	Released                // held, then the target became ready: continue
	TimedOut                // held until the hold timeout: answer 503
	Overload                // too many held already: answer 503 at once
	WaitPage                // browser to a target at zero with PageImmediate: answer the page
	Draining                // wakegate is shutting down and the target is not ready: answer 503
	Canceled                // the client went away while held: nothing to answer
)

var outcomeNames = [...]string{"pass", "ready", "released", "timeout", "overload", "waiting_page", "draining", "canceled"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Continue reports whether the request should go on to the upstream.
func (o Outcome) Continue() bool { return o == Pass || o == Ready || o == Released }

// Request is what the adapters hand to the gate.
type Request struct {
	route.Request
	// Target, if set, names the target directly and skips routing (ext_authz
	// context_extensions). An unknown name is treated as no match.
	Target string
	// Browser is true when the client prefers text/html (a navigation).
	Browser bool
	// Deadline, if set, ends a hold as TimedOut at this time when that comes before the
	// target's hold timeout: the ext_authz adapter sets it a little before the call's gRPC
	// deadline, so the visitor gets wakegate's 503 instead of Envoy's error status.
	Deadline time.Time
	// OnHold, if set, is called once, synchronously, when the request starts to be held,
	// with the longest time the hold may last. The ext_proc adapter uses it to extend
	// Envoy's message timeout before it waits.
	OnHold func(timeout time.Duration)
}

// Decision is the gate's answer.
type Decision struct {
	Outcome    Outcome
	Target     string        // empty for Pass
	Held       time.Duration // how long the request was held (0 if not held)
	RetryAfter time.Duration // for answers that reject: the Retry-After to send
	HTML       bool          // reject with the HTML waiting page instead of plain text
}
