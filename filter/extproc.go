package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wakegate/wakegate/internal/gate"
)

// DefaultOverrideMargin is added to the hold timeout in override_message_timeout unless
// ExtProcOptions.OverrideMargin says otherwise.
const DefaultOverrideMargin = time.Second

// ExtProcOptions configure an ExtProc.
type ExtProcOptions struct {
	// Gate decides each request. Required: without it every stream fails with
	// FailedPrecondition.
	Gate Checker
	// Logger receives per-stream debug logs and stream errors; nil discards.
	Logger *slog.Logger
	// OverrideMessageTimeout makes the server send Envoy one override_message_timeout (the
	// hold timeout plus OverrideMargin) as soon as a request starts to be held. Use it with
	// Envoy configs that keep message_timeout short and set max_message_timeout: Envoy only
	// accepts 1 ms ≤ override ≤ max_message_timeout, so max_message_timeout must cover the
	// longest hold timeout plus the margin. Off, message_timeout itself must cover the hold.
	OverrideMessageTimeout bool
	// OverrideMargin leaves Envoy time to receive the final answer after a hold timed out
	// (DefaultOverrideMargin if zero or negative).
	OverrideMargin time.Duration
}

// ExtProc is Envoy's external processor (ext_proc) for wakegate. Each Process stream is one
// HTTP request: its request_headers are checked against the gate — continued at once,
// held until the target is ready and then continued, or answered with a 503. Every other
// message is continued unchanged. In observability mode (Envoy ignores answers) nothing is
// sent: the request is only counted and wakes its target. It is safe for concurrent use;
// streams share nothing but the Checker and the logger.
type ExtProc struct {
	extprocv3.UnimplementedExternalProcessorServer

	gate     Checker
	log      *slog.Logger
	override bool
	margin   time.Duration
}

var _ extprocv3.ExternalProcessorServer = (*ExtProc)(nil)

// NewExtProc returns an ExtProc using opts (see ExtProcOptions for defaults).
func NewExtProc(opts ExtProcOptions) *ExtProc {
	s := &ExtProc{gate: opts.Gate, log: opts.Logger, override: opts.OverrideMessageTimeout, margin: opts.OverrideMargin}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.margin <= 0 {
		s.margin = DefaultOverrideMargin
	}
	return s
}

// Process serves one ext_proc stream. A receiving goroutine feeds messages to this one,
// which does all the sending (gRPC allows one sender and one receiver at a time). If
// receiving fails — the HTTP request went away and Envoy reset the stream — the
// receiver cancels the context the gate holds the request with, which ends the hold.
// A clean half-close (io.EOF) does not: what was asked is still answered, then the stream
// ends. Finish is called exactly once for the Check the stream made, when Process returns.
func (s *ExtProc) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	if s.gate == nil {
		return status.Error(codes.FailedPrecondition, "ext_proc: no Gate configured (ExtProcOptions.Gate)")
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	msgs := make(chan *extprocv3.ProcessingRequest)
	go receive(ctx, stream, msgs, cancel)

	x := &exchange{s: s, stream: stream, ctx: ctx}
	defer x.finish()
	for {
		select {
		case <-ctx.Done():
			return x.ended()
		case msg, ok := <-msgs:
			if !ok {
				return x.ended()
			}
			if err := x.handle(msg); err != nil {
				return err
			}
		}
	}
}

// receive passes stream's messages to out until Recv fails, then closes out; a failure
// other than io.EOF first cancels ctx with the error as cause. It also returns once ctx
// ends; a Recv blocked at that point returns when gRPC ends the stream after Process
// returns.
func receive(ctx context.Context, stream extprocv3.ExternalProcessor_ProcessServer,
	out chan<- *extprocv3.ProcessingRequest, cancel context.CancelCauseFunc) {
	defer close(out)
	for {
		msg, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				cancel(err)
			}
			return
		}
		select {
		case out <- msg:
		case <-ctx.Done():
			return
		}
	}
}

// exchange is the state of one stream. It is owned by the Process goroutine: handle,
// onHold (called synchronously from within Check on that goroutine) and finish all run
// there, so Sends never race and no field needs a lock.
type exchange struct {
	s      *ExtProc
	stream extprocv3.ExternalProcessor_ProcessServer
	ctx    context.Context

	checked      bool // Check was called; decision must be passed to Finish
	decision     gate.Decision
	overrideSent bool
	sendErr      error // from the override Send inside Check
}

// handle answers one message.
func (x *exchange) handle(msg *extprocv3.ProcessingRequest) error {
	if h, ok := msg.GetRequest().(*extprocv3.ProcessingRequest_RequestHeaders); ok {
		if x.checked {
			return status.Error(codes.InvalidArgument, "ext_proc: request_headers received twice on one stream")
		}
		return x.requestHeaders(msg, h.RequestHeaders)
	}
	if !x.checked {
		x.s.log.Debug("ext_proc stream does not start with request_headers; continuing it", "kind", kind(msg))
	}
	resp, err := continueFor(msg)
	if err != nil {
		return err
	}
	return x.send(msg, resp)
}

// requestHeaders asks the gate about the request and answers with its decision.
func (x *exchange) requestHeaders(msg *extprocv3.ProcessingRequest, h *extprocv3.HttpHeaders) error {
	req := requestFromHeaders(h.GetHeaders())
	req.Target = metadataTarget(msg.GetMetadataContext())
	if x.s.override && !msg.GetObservabilityMode() {
		req.OnHold = x.onHold
	}
	x.checked = true
	x.decision = x.s.gate.Check(x.ctx, req)
	d := x.decision
	if x.s.log.Enabled(x.ctx, slog.LevelDebug) { // skip building the attributes on the hot path
		x.s.log.Debug("ext_proc decision", "authority", req.Authority, "target", d.Target,
			"outcome", d.Outcome.String(), "heldMs", d.Held.Milliseconds())
	}
	switch {
	case x.sendErr != nil:
		return x.sendErr
	case d.Outcome == gate.Canceled:
		return x.canceled()
	}
	return x.send(msg, decisionResponse(d))
}

// onHold extends Envoy's message timeout to cover the hold. Envoy accepts one override
// per processing state, so it sends at most one. It runs on the Process goroutine (the
// gate calls OnHold synchronously inside Check), so it may Send.
func (x *exchange) onHold(timeout time.Duration) {
	if x.overrideSent {
		return
	}
	x.overrideSent = true
	if err := x.stream.Send(overrideTimeout(timeout + x.s.margin)); err != nil {
		x.sendErr = fmt.Errorf("ext_proc: send override_message_timeout: %w", err)
		x.s.log.Debug("ext_proc send failed", "err", err)
	}
}

// send answers msg, unless Envoy runs the filter in observability mode and ignores answers.
func (x *exchange) send(msg *extprocv3.ProcessingRequest, resp *extprocv3.ProcessingResponse) error {
	if msg.GetObservabilityMode() {
		return nil
	}
	if err := x.stream.Send(resp); err != nil {
		x.s.log.Debug("ext_proc send failed", "kind", kind(msg), "err", err)
		return fmt.Errorf("ext_proc: answer %s: %w", kind(msg), err)
	}
	return nil
}

// ended is Process's result once the stream's context is done or receiving stopped: nil
// when Envoy closed its side cleanly, otherwise the receive error or the context's end.
func (x *exchange) ended() error {
	if x.ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(x.ctx)
	switch {
	case errors.Is(cause, context.Canceled), status.Code(cause) == codes.Canceled:
		x.s.log.Debug("ext_proc stream canceled", "err", cause)
		return status.Error(codes.Canceled, "ext_proc: stream canceled")
	case errors.Is(cause, context.DeadlineExceeded), status.Code(cause) == codes.DeadlineExceeded:
		x.s.log.Debug("ext_proc stream deadline exceeded", "err", cause)
		return status.Error(codes.DeadlineExceeded, "ext_proc: stream deadline exceeded")
	}
	x.s.log.Warn("ext_proc receive failed", "err", cause)
	return fmt.Errorf("ext_proc: receive: %w", cause)
}

// canceled ends the stream of a request the gate gave up on because its context ended:
// there is no one left to answer.
func (x *exchange) canceled() error {
	if err := x.ended(); err != nil {
		return err
	}
	return status.Error(codes.Canceled, "ext_proc: request canceled while held")
}

// finish reports the end of the request to the gate, once, if it was checked.
func (x *exchange) finish() {
	if x.checked {
		x.s.gate.Finish(x.decision)
	}
}
