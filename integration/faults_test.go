package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// TestAppCrashWhileHeld: the app dies (SIGKILL) between its start and its readiness while
// requests are held; wakegate's wake back-off starts it again and the held requests are
// released with 200. Nothing stays held.
func TestAppCrashWhileHeld(t *testing.T) {
	t.Parallel()
	first := filepath.Join(t.TempDir(), "first-start")
	s := startStack(t, stackOptions{target: func(tg *harness.LocalTarget) {
		u, err := url.Parse(tg.Readiness.HTTP) // the app's /healthz: its listen address
		if err != nil {
			t.Fatal(err)
		}
		// The first start never gets ready (1h startup delay); later ones start at once.
		tg.Process.Command = []string{"/bin/sh", "-c", fmt.Sprintf(
			`if [ -e '%[1]s' ]; then d=0s; else : > '%[1]s'; d=1h; fi; exec '%[2]s' --listen '%[3]s' --name app --startup-delay "$d"`,
			first, binaries(t).SampleApp, u.Host)}
	}})
	results := make(chan asyncResult, 2)
	for range 2 {
		sendAsync(t, results, s.envoy.URL("gated")+"/", appHost)
	}
	s.awaitApp(t, "2 held", func(ts harness.TargetStatus) bool { return ts.Held == 2 })
	pid, err := s.wg.AwaitStartedPID(deadline(t, 10*time.Second), "app", 1)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the app (pid %d): %v", pid, err)
	}
	for _, r := range awaitResults(t, results, 2, 30*time.Second, "held requests after the crash") {
		t.Logf("held request: %d %v after the crash (x-seen-cold-start %sms)", r.status, r.at.Sub(killed).Round(time.Millisecond), r.header.Get("x-seen-cold-start"))
		if r.err != nil || r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
			t.Errorf("held request: status %d, x-seen-cold-start %q, err %v; want 200 after a hold", r.status, r.header.Get("x-seen-cold-start"), r.err)
		}
	}
	if pids := s.wg.StartedPIDs("app"); len(pids) != 2 || pids[1] == pid {
		t.Errorf("app started with pids %v, want 2 starts (the crashed %d, then a new one)", pids, pid)
	}
	if n := s.wg.CountLines("process exited unexpectedly"); n != 1 {
		t.Errorf("wakegate logged %d unexpected exits, want 1", n)
	}
	s.awaitApp(t, "held back to 0", func(ts harness.TargetStatus) bool { return ts.Held == 0 && ts.InFlight == 0 })
	if got := s.metric(t, "wakegate_requests_total", "target", "app", "outcome", "released"); got != 2 {
		t.Errorf("wakegate_requests_total{outcome=released} = %v, want 2", got)
	}
}

// TestMessageTimeoutShorterThanHold: Envoy's ext_proc message_timeout (500ms) ends a hold
// that wakegate would keep for 5s. Fail-closed, Envoy answers 504; fail-open, it forwards
// the request to the app unheld (docs/envoy.md). Either way Envoy resets the ext_proc
// stream, which reaches wakegate's gate as a cancel: held returns to 0 long before the hold
// timeout, counted as canceled, not as a timeout.
func TestMessageTimeoutShorterThanHold(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		failOpen bool
		want     int
	}{{"fail-closed", false, http.StatusGatewayTimeout}, {"fail-open", true, http.StatusOK}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sw := startReadinessSwitch(t) // never turned ready: the app runs but wakegate keeps holding
			s := startStack(t, stackOptions{target: func(tg *harness.LocalTarget) { tg.Readiness.HTTP, tg.HoldTimeout = sw.url, "5s" },
				envoy: func(l *envoy.Local) { l.MessageTimeout, l.FailureModeAllow = 500*time.Millisecond, tt.failOpen }})
			r := s.get(t, appHost)
			answered := time.Now()
			t.Logf("%s: %d after %v, x-sample-app %q", tt.name, r.status, r.elapsed.Round(time.Millisecond), r.header.Get("x-sample-app"))
			if r.status != tt.want {
				t.Fatalf("status %d, want %d (body %.200q)", r.status, tt.want, r.body)
			}
			if tt.failOpen && (r.header.Get("x-sample-app") != "app" || r.header.Get("x-seen-cold-start") != "") {
				t.Errorf("fail-open: x-sample-app %q, x-seen-cold-start %q; want the app's answer, unreleased", r.header.Get("x-sample-app"), r.header.Get("x-seen-cold-start"))
			}
			assertStat(t, s.envoy, "message_timeouts", 1)
			s.awaitApp(t, "held back to 0", func(ts harness.TargetStatus) bool { return ts.Held == 0 && ts.InFlight == 0 })
			t.Logf("%s: held back to 0 %v after the answer (hold timeout 5s)", tt.name, time.Since(answered).Round(time.Millisecond))
			if got := s.metric(t, "wakegate_requests_total", "target", "app", "outcome", "canceled"); got != 1 {
				t.Errorf("wakegate_requests_total{outcome=canceled} = %v, want 1", got)
			}
			if got := s.metric(t, "wakegate_hold_timeouts_total", "target", "app"); got != 0 {
				t.Errorf("wakegate_hold_timeouts_total = %v, want 0: the reset did not reach the gate", got)
			}
		})
	}
}

// TestRandomClientCancels: 1,000 requests through Envoy, each cancelled by its client after
// a random 0-50ms, against a target that starts cold and becomes ready on the way. Then
// nothing is held or in flight, and wakegate's goroutines return to their baseline.
func TestRandomClientCancels(t *testing.T) {
	t.Parallel()
	const total, workers = 1000, 20
	// Goroutines the traffic may leave for good: Envoy's gRPC connection (3 in grpc-go), the
	// app's reaper, prober and output copiers (4), the tests' admin keep-alives (2 each).
	// A per-request leak would be hundreds: several hundred requests are cancelled.
	const margin = 15
	s := startStack(t, stackOptions{startupDelay: "300ms", args: []string{"--log-level", "info"}})
	baseline := goroutines(t, s.wg)
	client := &http.Transport{MaxIdleConnsPerHost: workers}
	t.Cleanup(client.CloseIdleConnections)

	var mu sync.Mutex
	counts := map[string]int{}
	jobs := make(chan struct{}, total)
	for range total {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				outcome := cancelledGet(t.Context(), client, s.envoy.URL("gated")+"/", rand.N(50*time.Millisecond))
				mu.Lock()
				counts[outcome]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ts := s.awaitApp(t, "held and in flight back to 0", func(ts harness.TargetStatus) bool { return ts.Held == 0 && ts.InFlight == 0 })
	t.Logf("%d requests: %v; wakegate saw %d, %d wake-ups", total, counts, ts.RequestsTotal, ts.Wakeups)
	for outcome, n := range counts {
		if outcome != "200" && outcome != "canceled" {
			t.Errorf("%d requests ended %s, want only 200 or a client cancel", n, outcome)
		}
	}
	if counts["200"] == 0 || counts["canceled"] == 0 {
		t.Errorf("outcomes %v: want both answers and cancels", counts)
	}
	var last float64
	err := harness.Poll(deadline(t, 20*time.Second), func() (bool, error) {
		last = goroutines(t, s.wg)
		return last <= baseline+margin, fmt.Errorf("go_goroutines %v, baseline %v", last, baseline)
	})
	t.Logf("go_goroutines: baseline %v, after %v", baseline, last)
	if err != nil {
		t.Errorf("goroutines did not return to baseline+%d: %v", margin, err)
	}
}

// cancelledGet sends GET url (Host appHost) with a context cancelled after d and returns
// the status code as text, or "canceled" if the client's cancel ended it, or the error.
func cancelledGet(ctx context.Context, rt http.RoundTripper, url string, d time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	req.Host = appHost
	resp, err := rt.RoundTrip(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil {
			return fmt.Sprint(resp.StatusCode)
		}
	}
	if ctx.Err() != nil {
		return "canceled"
	}
	return err.Error()
}

// goroutines returns wakegate's go_goroutines.
func goroutines(t testing.TB, wg *harness.Wakegate) float64 {
	t.Helper()
	return wakegateMetric(t, wg, "go_goroutines")
}
