package activity

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkBeginEnd(b *testing.B) {
	tr := New(0)
	b.ReportAllocs()
	for b.Loop() {
		tr.Begin("a")
		tr.End("a")
	}
}

// BenchmarkBeginEndParallel: every goroutine on the same target (worst contention).
func BenchmarkBeginEndParallel(b *testing.B) {
	tr := New(0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.Begin("a")
			tr.End("a")
		}
	})
}

// BenchmarkBeginEndParallelTargets: each goroutine on its own target.
func BenchmarkBeginEndParallelTargets(b *testing.B) {
	tr := New(0)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		name := "t" + strconv.FormatInt(next.Add(1), 10)
		for pb.Next() {
			tr.Begin(name)
			tr.End(name)
		}
	})
}

func BenchmarkRate(b *testing.B) {
	tr := New(DefaultRetention)
	for range 1000 {
		tr.Begin("a")
		tr.End("a")
	}
	for _, w := range []time.Duration{time.Second, time.Minute, DefaultRetention} {
		b.Run(w.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tr.Rate("a", w)
			}
		})
	}
}
