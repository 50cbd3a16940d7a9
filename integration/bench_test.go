package integration

import (
	"io"
	"net/http"
	"testing"

	"github.com/wakegate/wakegate/envoy"
)

// BenchmarkWarmPath compares a request to a ready app through Envoy with the ext_proc
// filter (one round trip to wakegate) and without it, on the same Envoy and app.
func BenchmarkWarmPath(b *testing.B) {
	// Info logs: the harness default (debug) writes a line per request.
	s := startStack(b, stackOptions{args: []string{"--log-level", "info"}, envoy: func(l *envoy.Local) { l.Direct, l.DirectPort = true, 0 }})
	if r := s.get(b, appHost); r.status != http.StatusOK {
		b.Fatalf("wake-up request: status %d", r.status)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.Cleanup(client.CloseIdleConnections)
	for _, listener := range []string{"gated", "direct"} {
		b.Run(listener, func(b *testing.B) {
			url := s.envoy.URL(listener) + "/"
			for b.Loop() {
				req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
				if err != nil {
					b.Fatal(err)
				}
				req.Host = appHost
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
