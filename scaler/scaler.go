// Package scaler serves KEDA's external scaler gRPC protocol (trigger types "external" and
// "external-push") over wakegate's activity counts.
//
// A ScaledObject trigger names its target through the ScaledObjectRef (resolved by a
// Resolver) and tunes the answers through its metadata (see ParseTrigger):
//
//   - IsActive / StreamIsActive: true while requests are in flight or held, or one was
//     seen less than activeWithin ago. StreamIsActive pushes changes as they happen, so a
//     first held request makes KEDA scale from zero at once.
//   - GetMetricSpec / GetMetrics: one metric, requests per second over window
//     (MetricNameRequestRate) or requests in flight (MetricNameConcurrency), against the
//     per-replica targetValue.
//
// The adapter maps problems to gRPC status codes: bad metadata is InvalidArgument naming
// the key and value; an unknown target is not an error (inactive, value 0).
package scaler

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/wakegate/wakegate/internal/activity"
)

// Counts is what the scaler reads from the activity tracker. Implementations must be safe
// for concurrent use; Watch's channel is closed (never sent on) at the target's next
// busy/idle or held edge.
type Counts interface {
	Stats(target string) (activity.Stats, bool)
	Rate(target string, window time.Duration) float64
	Watch(target string) (activity.Stats, <-chan struct{})
}

var _ Counts = (*activity.Tracker)(nil)

// Resolver maps KEDA's ScaledObjectRef to a wakegate target name; ok is false when the
// ref names no configured target. Implementations must be safe for concurrent use.
type Resolver interface {
	Resolve(namespace, name string) (target string, ok bool)
}

// Notifier may be implemented by a Resolver whose answers change over time. Changed
// returns a channel closed at the next change; open StreamIsActive streams then resolve
// their ref again. Without it, a stream re-resolves only when it wakes for another reason.
type Notifier interface {
	Changed() <-chan struct{}
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(namespace, name string) (target string, ok bool)

// Resolve calls f.
func (f ResolverFunc) Resolve(namespace, name string) (string, bool) { return f(namespace, name) }

var _ Resolver = ResolverFunc(nil)

// NameResolver is local mode's Resolver: a ref names the target of the same name, in any
// namespace, if configured(name) reports that target configured. configured must be safe
// for concurrent use.
func NameResolver(configured func(name string) bool) ResolverFunc {
	return func(_, name string) (string, bool) { return name, configured(name) }
}

// Options configure a Server. Counts and Resolver are required.
type Options struct {
	Counts   Counts
	Resolver Resolver
	Logger   *slog.Logger // nil: discard
	// Retention is the longest rate window a trigger may ask for. If 0: Counts' Retention()
	// when it has one (as *activity.Tracker does), else activity.DefaultRetention.
	Retention time.Duration
}

// Server implements KEDA's ExternalScaler service. It is safe for concurrent use and owns
// no goroutines: each stream runs on the goroutine gRPC gives its handler and returns when
// the client goes away or Drain is called.
type Server struct {
	// Required by the generated code; every method of the service is implemented below.
	pb.UnimplementedExternalScalerServer

	counts    Counts
	resolver  Resolver
	log       *slog.Logger
	maxWindow time.Duration
	health    *health.Server

	drainOnce sync.Once
	drained   chan struct{} // closed by Drain
}

var _ pb.ExternalScalerServer = (*Server)(nil)

// New returns a Server reading opts.Counts.
func New(opts Options) (*Server, error) {
	if opts.Counts == nil || opts.Resolver == nil {
		return nil, errors.New("scaler: Options.Counts and Options.Resolver are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Retention <= 0 {
		opts.Retention = activity.DefaultRetention
		if r, ok := opts.Counts.(interface{ Retention() time.Duration }); ok && r.Retention() > 0 {
			opts.Retention = r.Retention()
		}
	}
	if opts.Retention < time.Second {
		return nil, fmt.Errorf("scaler: Options.Retention %s is shorter than the 1s minimum window", opts.Retention)
	}
	return &Server{
		counts: opts.Counts, resolver: opts.Resolver, log: opts.Logger,
		maxWindow: opts.Retention, health: health.NewServer(), drained: make(chan struct{}),
	}, nil
}

// Register registers the scaler and the standard gRPC health service (grpc.health.v1) on
// gs, before it serves. Health answers SERVING for "" and for the scaler's service name
// until Drain.
func (s *Server) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterExternalScalerServer(gs, s)
	s.health.SetServingStatus(pb.ExternalScaler_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthgrpc.RegisterHealthServer(gs, s.health)
}

// Drain starts the server's shutdown: health turns NOT_SERVING and every StreamIsActive
// stream ends cleanly, so KEDA sees EOF, resets its backoff and reconnects (to another
// replica if there is one). Streams opened later end after their first message; unary
// methods keep answering. Safe to call more than once, from any goroutine.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		s.health.Shutdown()
		close(s.drained)
	})
}
