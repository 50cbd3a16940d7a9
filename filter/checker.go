// Package filter holds the Envoy adapters: ext_proc (and, later, ext_authz). Each adapter
// turns an Envoy message into a gate.Request, asks the gate, and turns the gate.Decision
// into Envoy's answer. The HTTP answers for rejected requests (503 + Retry-After, plain
// text or the HTML waiting page) are shared by both adapters.
package filter

import (
	"context"

	"github.com/wakegate/wakegate/internal/gate"
)

// Checker is the part of *gate.Gate the adapters use. Implementations must be safe for
// concurrent use: every Envoy stream calls it from its own goroutine.
type Checker interface {
	// Check decides what happens to req; it may block while the request is held and
	// returns Canceled once ctx ends.
	Check(ctx context.Context, req gate.Request) gate.Decision
	// Finish ends the request d was decided for. The adapters call it exactly once per
	// Check, when Envoy's stream for that request ends.
	Finish(d gate.Decision)
}

var _ Checker = (*gate.Gate)(nil)

// ColdStartHeader is set on a request that was held and then released, to the time it
// was held in whole milliseconds, so the upstream (and its access log) can see cold starts.
const ColdStartHeader = "x-wakegate-cold-start"
