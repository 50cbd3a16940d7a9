package scaler

import (
	"context"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
)

// StreamIsActive pushes IsActive's answer for ref: the current value as soon as the stream
// opens, then each change. It sleeps on the tracker's Watch channel (closed at busy, idle
// and held edges), on a timer set to when activeWithin runs out after the last request,
// and on the Resolver's Notifier if it has one; nothing polls. A true makes KEDA scale
// from zero at once; a false is ignored by KEDA but keeps the stream truthful.
//
// A ref that resolves to no target gets false, and the stream watches the tracker under
// the ref's own name (which is the target's name in local mode, creating an empty entry
// there) and the Notifier: the ref is resolved again at every wake-up, so a target
// configured later is picked up.
//
// The stream stays open until the client cancels it (nil is returned) or Drain is called
// (nil: the client sees EOF). It leaves no goroutine behind.
func (s *Server) StreamIsActive(ref *pb.ScaledObjectRef, stream grpc.ServerStreamingServer[pb.IsActiveResponse]) error {
	trig, err := s.trigger(ref)
	if err != nil {
		return err
	}
	ctx := stream.Context()
	var w streamState
	for {
		var resolverChanged <-chan struct{}
		if n, ok := s.resolver.(Notifier); ok {
			resolverChanged = n.Changed() // taken before Resolve, so no change slips between
		}
		target, known := s.resolver.Resolve(ref.GetNamespace(), ref.GetName())
		if !known {
			target = ref.GetName()
		}
		w.noteTarget(ctx, s, ref, target, known)
		st, changed := s.counts.Watch(target)
		now := time.Now()
		active := known && trig.active(st, now)
		if err := w.send(stream, active); err != nil {
			if ctx.Err() != nil {
				return nil // the client went away mid-send
			}
			return err
		}
		var expire time.Duration
		if known && !st.Busy() {
			expire = trig.expiresIn(st, now)
		}
		if !s.wait(ctx, wakeups{changed: changed, resolver: resolverChanged, expire: expire}) {
			return nil
		}
	}
}

// wakeups are the events a stream sleeps on besides its end.
type wakeups struct {
	changed  <-chan struct{} // the tracker's edge channel for the watched name
	resolver <-chan struct{} // the Resolver's Notifier channel, or nil
	expire   time.Duration   // when the last-seen activity runs out; 0: no timer
}

// wait blocks until one of w happens (true) or the stream must end (false).
func (s *Server) wait(ctx context.Context, w wakeups) bool {
	var expired <-chan time.Time
	if w.expire > 0 {
		t := time.NewTimer(w.expire)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-s.drained:
		return false
	case <-w.changed:
	case <-w.resolver:
	case <-expired:
	}
	return true
}

// streamState is what one stream remembers between wake-ups. Owned by its stream.
type streamState struct {
	sent, last bool   // whether anything was sent, and the last value sent
	target     string // the name watched last time
	known      bool   // whether that name was a resolved target
}

// send sends active if nothing was sent yet or it differs from the last value sent.
func (w *streamState) send(stream grpc.ServerStreamingServer[pb.IsActiveResponse], active bool) error {
	if w.sent && w.last == active {
		return nil
	}
	if err := stream.Send(&pb.IsActiveResponse{Result: active}); err != nil {
		return err
	}
	w.sent, w.last = true, active
	return nil
}

// noteTarget logs, at debug level, the first resolution and each change of it.
func (w *streamState) noteTarget(ctx context.Context, s *Server, ref *pb.ScaledObjectRef, target string, known bool) {
	if w.sent && w.target == target && w.known == known {
		return
	}
	w.target, w.known = target, known
	s.log.DebugContext(ctx, "scaler: StreamIsActive watching", "namespace", ref.GetNamespace(),
		"name", ref.GetName(), "target", target, "configured", known)
}
