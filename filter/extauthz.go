package filter

import (
	"context"
	"errors"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wakegate/wakegate/internal/gate"
)

// DefaultDeadlineMargin is how long before the deadline of an ext_authz call a hold is cut
// short, unless ExtAuthzOptions.DeadlineMargin says otherwise.
const DefaultDeadlineMargin = 100 * time.Millisecond

// ExtAuthzOptions configure an ExtAuthz.
type ExtAuthzOptions struct {
	// Gate decides each request. Required: without it every Check fails with
	// FailedPrecondition.
	Gate Checker
	// Logger receives per-check debug logs; nil discards.
	Logger *slog.Logger
	// DeadlineMargin: when the Check call has a deadline (Envoy sends its ext_authz timeout
	// as grpc-timeout), a hold still running DeadlineMargin before that deadline is ended
	// and answered like a hold timeout (503 + Retry-After, or the waiting page), so the
	// visitor does not get Envoy's status_on_error (403 by default) instead.
	// DefaultDeadlineMargin if zero or negative.
	DeadlineMargin time.Duration
}

// ExtAuthz is Envoy's external authorization (ext_authz) service for wakegate. Each Check is
// one HTTP request: it is allowed at once, held until its target is ready and then allowed
// (with ColdStartHeader added for the upstream), or denied with a 503 (plain text or the
// HTML waiting page) — the same decisions and answers as ExtProc.
//
// The request is routed by attributes.request.http (host, path, headers — the headers map,
// or header_map when Envoy sets encode_raw_headers), unless the route's per-filter config
// sets the context extension ContextExtensionTarget ("wakegate-target"), which names the
// target directly and overrides host/path matching. An unknown name matches no target and
// the request is allowed.
//
// ext_authz is unary, so for the gate a request is "in flight" only while it is being
// authorized or held: Finish is called before Check returns, not when the HTTP request
// ends. Envoy's ext_authz timeout must cover the longest hold (see DeadlineMargin).
//
// It is safe for concurrent use; calls share nothing but the Checker and the logger.
type ExtAuthz struct {
	authv3.UnimplementedAuthorizationServer

	gate   Checker
	log    *slog.Logger
	margin time.Duration
}

var _ authv3.AuthorizationServer = (*ExtAuthz)(nil)

// NewExtAuthz returns an ExtAuthz using opts (see ExtAuthzOptions for defaults).
func NewExtAuthz(opts ExtAuthzOptions) *ExtAuthz {
	s := &ExtAuthz{gate: opts.Gate, log: opts.Logger, margin: opts.DeadlineMargin}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.margin <= 0 {
		s.margin = DefaultDeadlineMargin
	}
	return s
}

// Check authorizes one HTTP request. It blocks while the request is held. When Envoy goes
// away mid-hold (the call is canceled) it returns a Canceled (or DeadlineExceeded) status
// error: there is no one left to answer. Gate.Finish is called exactly once per Check it
// made, before Check returns.
func (s *ExtAuthz) Check(ctx context.Context, cr *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if s.gate == nil {
		return nil, status.Error(codes.FailedPrecondition, "ext_authz: no Gate configured (ExtAuthzOptions.Gate)")
	}
	req := requestFromCheck(cr)
	if deadline, ok := ctx.Deadline(); ok {
		req.Deadline = deadline.Add(-s.margin)
	}
	d := s.gate.Check(ctx, req)
	defer s.gate.Finish(d)
	if s.log.Enabled(ctx, slog.LevelDebug) { // skip building the attributes on the hot path
		s.log.Debug("ext_authz decision", "authority", req.Authority, "target", d.Target,
			"outcome", d.Outcome.String(), "heldMs", d.Held.Milliseconds())
	}
	if d.Outcome != gate.Canceled {
		return checkResponse(d), nil
	}
	return nil, canceledStatus(ctx)
}

// canceledStatus is the error for a call whose context ended (Canceled unless its deadline
// passed), or Canceled if the gate gave up on its own.
func canceledStatus(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, "ext_authz: deadline exceeded while held")
	}
	return status.Error(codes.Canceled, "ext_authz: request canceled while held")
}
