package scaler

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wakegate/wakegate/internal/activity"
)

// IsActive reports whether ref's target is active (see Trigger): requests in flight or
// held, or one seen less than activeWithin ago. An unknown target is inactive.
func (s *Server) IsActive(ctx context.Context, ref *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	trig, err := s.trigger(ref)
	if err != nil {
		return nil, err
	}
	target, ok := s.resolve(ctx, "IsActive", ref)
	if !ok {
		return &pb.IsActiveResponse{}, nil
	}
	st, _ := s.counts.Stats(target)
	return &pb.IsActiveResponse{Result: trig.active(st, time.Now())}, nil
}

// GetMetricSpec announces the trigger's one metric (MetricNameRequestRate or
// MetricNameConcurrency) and its per-replica target. TargetSize is TargetSizeFloat rounded
// up, for KEDA versions that read only the integer. The spec depends on the metadata only,
// so it is answered for targets not configured (yet) too.
func (s *Server) GetMetricSpec(_ context.Context, ref *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	trig, err := s.trigger(ref)
	if err != nil {
		return nil, err
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{
		MetricName:      trig.Metric.Name(),
		TargetSize:      ceilInt(trig.TargetValue),
		TargetSizeFloat: trig.TargetValue,
	}}}, nil
}

// GetMetrics answers the trigger's metric: requests per second over window, or requests in
// flight (held ones included). MetricValue is MetricValueFloat rounded up, so any traffic
// at all reports at least 1 to KEDA versions that read only the integer. The requested
// name may be empty, the trigger's metric name, or that name behind KEDA's "sN-" prefix;
// any other name is InvalidArgument. An unknown target reports 0.
func (s *Server) GetMetrics(ctx context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	ref := req.GetScaledObjectRef()
	if ref == nil {
		return nil, status.Error(codes.InvalidArgument, "scaledObjectRef is missing")
	}
	trig, err := s.trigger(ref)
	if err != nil {
		return nil, err
	}
	name := trig.Metric.Name()
	if asked := stripIndex(req.GetMetricName()); asked != "" && asked != name {
		return nil, status.Errorf(codes.InvalidArgument, "metric %q is not served for this trigger: metadata key %q selects %q (metric %q)",
			req.GetMetricName(), KeyMetric, trig.Metric, name)
	}
	var v float64
	if target, ok := s.resolve(ctx, "GetMetrics", ref); ok {
		v = s.value(trig, target)
	}
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{
		MetricName: name, MetricValue: ceilInt(v), MetricValueFloat: v,
	}}}, nil
}

// StreamMetricSpec answers Unimplemented, on purpose: a trigger's spec depends only on its
// metadata, which cannot change while a stream is open (KEDA rebuilds the scaler when the
// ScaledObject changes), so there would never be anything to push. KEDA then falls back
// to GetMetricSpec and does not ask again.
func (s *Server) StreamMetricSpec(*pb.ScaledObjectRef, grpc.ServerStreamingServer[pb.GetMetricSpecResponse]) error {
	return status.Error(codes.Unimplemented, "wakegate does not stream metric specs: they change only with the trigger's metadata; use GetMetricSpec")
}

// trigger parses ref's metadata, mapping a bad value to InvalidArgument.
func (s *Server) trigger(ref *pb.ScaledObjectRef) (Trigger, error) {
	trig, err := ParseTrigger(ref.GetScalerMetadata(), s.maxWindow)
	if me, ok := errors.AsType[*MetadataError](err); ok {
		return Trigger{}, status.Error(codes.InvalidArgument, me.Error())
	}
	return trig, err
}

// resolve maps ref to a target, logging unknown refs at debug level.
func (s *Server) resolve(ctx context.Context, method string, ref *pb.ScaledObjectRef) (string, bool) {
	target, ok := s.resolver.Resolve(ref.GetNamespace(), ref.GetName())
	if !ok {
		s.log.DebugContext(ctx, "scaler: ScaledObject names no configured target",
			"method", method, "namespace", ref.GetNamespace(), "name", ref.GetName())
	}
	return target, ok
}

// value is the trigger's metric for target now.
func (s *Server) value(trig Trigger, target string) float64 {
	if trig.Metric == MetricConcurrency {
		st, _ := s.counts.Stats(target)
		return float64(concurrency(st))
	}
	return s.counts.Rate(target, trig.Window)
}

// concurrency is the number of requests in flight. The tracker counts held requests in
// InFlight already; Held is taken when larger, so a hold never goes uncounted.
func concurrency(st activity.Stats) int64 {
	return max(st.InFlight, st.Held, 0)
}

// ceilInt rounds v up to an int64, saturating instead of overflowing.
func ceilInt(v float64) int64 {
	c := math.Ceil(v)
	switch {
	case c >= math.MaxInt64:
		return math.MaxInt64
	case c <= 0 || math.IsNaN(c):
		return 0
	}
	return int64(c)
}

// stripIndex removes the "sN-" prefix KEDA puts in front of metric names, if present.
func stripIndex(name string) string {
	rest, ok := strings.CutPrefix(name, "s")
	if !ok {
		return name
	}
	i := strings.IndexByte(rest, '-')
	if i <= 0 || strings.Trim(rest[:i], "0123456789") != "" {
		return name
	}
	return rest[i+1:]
}
