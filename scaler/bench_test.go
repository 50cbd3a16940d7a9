package scaler

import (
	"context"
	"testing"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// BenchmarkGetMetrics measures GetMetrics for a busy target, as a method call (the
// adapter's own cost) and through KEDA's client over an in-memory connection.
func BenchmarkGetMetrics(b *testing.B) {
	for _, metric := range []Metric{MetricRequestRate, MetricConcurrency} {
		req := &pb.GetMetricsRequest{
			ScaledObjectRef: ref("app", KeyMetric, string(metric), KeyWindow, "10m"),
			MetricName:      "s0-" + metric.Name(),
		}
		b.Run(string(metric)+"/direct", func(b *testing.B) {
			h := newHarness(b, harnessOptions{targets: []string{"app"}})
			warm(h)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.srv.GetMetrics(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(metric)+"/grpc", func(b *testing.B) {
			h := newHarness(b, harnessOptions{targets: []string{"app"}})
			warm(h)
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.client.GetMetrics(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// warm gives the target some traffic so Rate has buckets to sum.
func warm(h *harness) {
	for range 1000 {
		h.tr.Begin("app")
		h.tr.End("app")
	}
}
