package gate

import (
	"fmt"
	"testing"

	"github.com/wakegate/wakegate/internal/route"
)

// benchHarness has 100 ready targets.
func benchHarness(b *testing.B) *harness {
	b.Helper()
	targets := make([]Target, 0, 100)
	for i := range 100 {
		targets = append(targets, tgt(fmt.Sprintf("svc-%02d", i), pol(), fmt.Sprintf("svc-%02d.example.com", i)))
	}
	h := newHarness(b, Options{}, targets...)
	for _, t := range targets {
		h.p.setReady(t.Rule.Target, true)
	}
	return h
}

func BenchmarkCheckReady(b *testing.B) {
	h := benchHarness(b)
	req := Request{Request: route.Request{Authority: "svc-42.example.com", Path: "/api/items?x=1"}}
	b.ReportAllocs()
	for b.Loop() {
		h.g.Finish(h.g.Check(b.Context(), req))
	}
}

func BenchmarkCheckReadyParallel(b *testing.B) {
	h := benchHarness(b)
	req := Request{Request: route.Request{Authority: "svc-42.example.com", Path: "/api/items?x=1"}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.g.Finish(h.g.Check(b.Context(), req))
		}
	})
}

// BenchmarkCheckReadyParallelTargets spreads the load over every target.
func BenchmarkCheckReadyParallelTargets(b *testing.B) {
	h := benchHarness(b)
	reqs := make([]Request, 100)
	for i := range reqs {
		reqs[i] = Request{Request: route.Request{Authority: fmt.Sprintf("svc-%02d.example.com", i), Path: "/"}}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h.g.Finish(h.g.Check(b.Context(), reqs[i%len(reqs)]))
			i++
		}
	})
}

func BenchmarkCheckUnmatched(b *testing.B) {
	h := benchHarness(b)
	req := Request{Request: route.Request{Authority: "other.example.org", Path: "/"}}
	b.ReportAllocs()
	for b.Loop() {
		h.g.Check(b.Context(), req)
	}
}
