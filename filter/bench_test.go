package filter

import (
	"testing"
	"time"

	"github.com/wakegate/wakegate/internal/gate"
)

// BenchmarkRequestHeaders measures the per-request work around the gate: headers to
// gate.Request (with a routing lookup) and a decision back to an Envoy answer.
func BenchmarkRequestHeaders(b *testing.B) {
	m := hdrs(":authority", "airflow.example.com", ":path", "/home", ":method", "GET", ":scheme", "https",
		"user-agent", "Mozilla/5.0", "accept", chromeAccept, "accept-encoding", "gzip, br", "x-env", "blue")
	for _, tc := range []struct {
		name string
		d    gate.Decision
	}{
		{"ready", gate.Decision{Outcome: gate.Ready, Target: "airflow"}},
		{"released", gate.Decision{Outcome: gate.Released, Target: "airflow", Held: 2 * time.Second}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := requestFromHeaders(m)
				if _, ok := req.Headers.Get("x-env"); !ok || !req.Browser {
					b.Fatal("headers not read")
				}
				if decisionResponse(tc.d) == nil {
					b.Fatal("no answer")
				}
			}
		})
	}
}

func BenchmarkRejectionPage(b *testing.B) {
	d := gate.Decision{Outcome: gate.TimedOut, Target: "airflow", RetryAfter: 5 * time.Second, HTML: true}
	b.ReportAllocs()
	for b.Loop() {
		if a := rejection(d); len(a.Body) == 0 {
			b.Fatal("empty body")
		}
	}
}
