package filter

import (
	"testing"
	"time"

	"github.com/wakegate/wakegate/internal/gate"
)

// BenchmarkCheckRequest measures the ext_authz work around the gate: a CheckRequest to
// gate.Request and a decision back to a CheckResponse.
func BenchmarkCheckRequest(b *testing.B) {
	kv := []string{"user-agent", "Mozilla/5.0", "accept", chromeAccept, "accept-encoding", "gzip, br", "x-env", "blue"}
	for _, tc := range []struct {
		name string
		raw  bool // header_map (encode_raw_headers) instead of the headers map
		d    gate.Decision
	}{
		{"headers map, ready", false, gate.Decision{Outcome: gate.Ready, Target: "airflow"}},
		{"header_map, released", true, gate.Decision{Outcome: gate.Released, Target: "airflow", Held: 2 * time.Second}},
	} {
		cr := checkReq("airflow.example.com", "/home", kv...)
		if tc.raw {
			cr = rawCheckReq("airflow.example.com", "/home", kv...)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := requestFromCheck(cr)
				if _, ok := req.Headers.Get("x-env"); !ok || !req.Browser {
					b.Fatal("headers not read")
				}
				if checkResponse(tc.d) == nil {
					b.Fatal("no answer")
				}
			}
		})
	}
}
