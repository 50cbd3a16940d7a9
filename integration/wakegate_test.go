package integration

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// TestWarmRequestOneRoundTrip: a request to a ready target costs exactly one ext_proc
// message each way and reaches the app without a cold-start header.
func TestWarmRequestOneRoundTrip(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	if r := s.get(t, appHost); r.status != http.StatusOK {
		t.Fatalf("cold request: status %d", r.status)
	}
	before := extProcStats(t, s.envoy)
	r := s.get(t, appHost)
	after := extProcStats(t, s.envoy)
	if r.status != http.StatusOK || r.header.Get("x-sample-app") != "app" {
		t.Fatalf("warm request: status %d, x-sample-app %q", r.status, r.header.Get("x-sample-app"))
	}
	if v := r.header.Get("x-seen-cold-start"); v != "" {
		t.Errorf("warm request carried x-wakegate-cold-start %q", v)
	}
	for _, name := range []string{"streams_started", "stream_msgs_sent", "stream_msgs_received"} {
		if d := after[name] - before[name]; d != 1 {
			t.Errorf("ext_proc %s grew by %d for one warm request, want 1", name, d)
		}
	}
	if got := s.metric(t, "wakegate_requests_total", "target", "app", "outcome", "ready"); got != 1 {
		t.Errorf("wakegate_requests_total{outcome=ready} = %v, want 1", got)
	}
}

func extProcStats(t testing.TB, e *harness.Envoy) map[string]int64 {
	t.Helper()
	stats, err := e.Stats(t.Context(), `^http\.gated\.ext_proc\.`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for k, v := range stats {
		out[strings.TrimPrefix(k, "http.gated.ext_proc.")] = v
	}
	return out
}

// TestColdRequestHeldAndReleased: the first request wakes the app, waits for it, and is
// answered by it with the hold time in x-wakegate-cold-start. It also logs how long after
// the app became ready the held request was answered.
func TestColdRequestHeldAndReleased(t *testing.T) {
	t.Parallel()
	const delay = 500 * time.Millisecond
	s := startStack(t, stackOptions{startupDelay: delay.String()})
	readyAt := watchReady(t, s.app.HealthURL())
	r := s.get(t, appHost)
	answered := time.Now()
	if r.status != http.StatusOK || r.header.Get("x-sample-app") != "app" {
		t.Fatalf("status %d, x-sample-app %q, body %.200q", r.status, r.header.Get("x-sample-app"), r.body)
	}
	ms, err := strconv.Atoi(r.header.Get("x-seen-cold-start"))
	if err != nil || ms < int(delay.Milliseconds()) {
		t.Errorf("x-seen-cold-start %q: want the hold in ms, at least the app's %v startup delay", r.header.Get("x-seen-cold-start"), delay)
	}
	if n := s.appStarts(t); n != 1 {
		t.Errorf("app started %d times, want 1", n)
	}
	if got := s.metric(t, "wakegate_requests_total", "target", "app", "outcome", "released"); got != 1 {
		t.Errorf("wakegate_requests_total{outcome=released} = %v, want 1", got)
	}
	if at, ok := <-readyAt; ok {
		t.Logf("cold request: %v total, held %dms; answered %v after the app first answered /healthz (readiness interval 20ms)",
			r.elapsed.Round(time.Millisecond), ms, answered.Sub(at).Round(time.Millisecond))
	}
}

// watchReady polls url until it answers 200 and sends the time it first did. It stops when
// t ends.
func watchReady(t testing.TB, url string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ctx := t.Context()
	go func() {
		defer close(ch)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if r, err := tryGet(ctx, url, ""); err == nil && r.status == http.StatusOK {
				ch <- time.Now()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return ch
}

// TestConcurrentColdRequestsStartOnce: 100 requests held at once cause one start and are
// all answered by the app.
func TestConcurrentColdRequestsStartOnce(t *testing.T) {
	t.Parallel()
	const n = 100
	sw := startReadinessSwitch(t)
	s := startStack(t, stackOptions{target: func(tg *harness.LocalTarget) { tg.Readiness.HTTP = sw.url }})
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			r, err := tryGet(t.Context(), s.envoy.URL("gated")+"/", appHost)
			if err != nil {
				t.Errorf("GET: %v", err)
				return
			}
			statuses <- r.status
		})
	}
	s.awaitApp(t, "100 held", func(ts harness.TargetStatus) bool { return ts.Held == n })
	if err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
		r, err := tryGet(t.Context(), s.app.HealthURL(), "")
		return err == nil && r.status == http.StatusOK, err
	}); err != nil {
		t.Fatalf("the app never came up: %v", err)
	}
	sw.ready.Store(true)
	wg.Wait()
	close(statuses)
	ok := 0
	for st := range statuses {
		if st == http.StatusOK {
			ok++
		}
	}
	if ok != n {
		t.Errorf("%d of %d requests answered 200", ok, n)
	}
	if got := s.appStarts(t); got != 1 {
		t.Errorf("app started %d times, want 1", got)
	}
	if got := s.metric(t, "wakegate_requests_total", "target", "app", "outcome", "released"); got != n {
		t.Errorf("wakegate_requests_total{outcome=released} = %v, want %d", got, n)
	}
}

// TestHoldTimeoutAnswers503: when the app never gets ready, the held request gets 503 with
// Retry-After after the hold timeout; a browser gets the HTML waiting page.
func TestHoldTimeoutAnswers503(t *testing.T) {
	t.Parallel()
	never := "http://127.0.0.1:" + strconv.Itoa(harness.FreePortForTest(t)) + "/healthz"
	s := startStack(t, stackOptions{args: []string{"--retry-after", "3s"}, target: func(tg *harness.LocalTarget) {
		tg.Readiness.HTTP, tg.HoldTimeout = never, "1s"
	}})
	for _, tt := range []struct {
		accept, wantType, wantBody string
	}{
		{"*/*", "text/plain", ""},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html", "<html"},
	} {
		r := s.get(t, appHost, "Accept", tt.accept)
		t.Logf("Accept %s: %d after %v, content-type %q", tt.accept, r.status, r.elapsed.Round(time.Millisecond), r.header.Get("content-type"))
		if r.status != http.StatusServiceUnavailable || r.header.Get("retry-after") != "3" {
			t.Errorf("Accept %s: status %d, Retry-After %q; want 503, 3", tt.accept, r.status, r.header.Get("retry-after"))
		}
		if ct := r.header.Get("content-type"); !strings.HasPrefix(ct, tt.wantType) {
			t.Errorf("Accept %s: content-type %q, want %s", tt.accept, ct, tt.wantType)
		}
		if !strings.Contains(strings.ToLower(r.body), tt.wantBody) {
			t.Errorf("Accept %s: body %.200q lacks %q", tt.accept, r.body, tt.wantBody)
		}
		if r.elapsed < time.Second {
			t.Errorf("Accept %s: answered after %v, before the 1s hold timeout", tt.accept, r.elapsed)
		}
	}
	if got := s.metric(t, "wakegate_hold_timeouts_total", "target", "app"); got != 2 {
		t.Errorf("wakegate_hold_timeouts_total = %v, want 2", got)
	}
}

// TestClientGoneWhileHeld: a client that disconnects while held leaves nothing behind.
func TestClientGoneWhileHeld(t *testing.T) {
	t.Parallel()
	sw := startReadinessSwitch(t) // never turned ready
	s := startStack(t, stackOptions{target: func(tg *harness.LocalTarget) { tg.Readiness.HTTP = sw.url }})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := tryGet(ctx, s.envoy.URL("gated")+"/", appHost)
		done <- err
	}()
	s.awaitApp(t, "the request to be held", func(ts harness.TargetStatus) bool { return ts.Held == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the request was answered although the app never got ready")
	}
	ts := s.awaitApp(t, "held and in-flight back to 0", func(ts harness.TargetStatus) bool { return ts.Held == 0 && ts.InFlight == 0 })
	t.Logf("after the client left: %+v", ts)
	if got := s.metric(t, "wakegate_requests_total", "target", "app", "outcome", "canceled"); got != 1 {
		t.Errorf("wakegate_requests_total{outcome=canceled} = %v, want 1", got)
	}
	if got := s.metric(t, "wakegate_held_requests", "target", "app"); got != 0 {
		t.Errorf("wakegate_held_requests = %v, want 0", got)
	}
}

// TestUnmatchedHostPasses: a request no target matches goes straight to the upstream,
// without a hold, a count or a start.
func TestUnmatchedHostPasses(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	harness.SampleAppForTest(t, harness.SampleAppOptions{Bin: s.app.Bin, Listen: s.app.Listen, Name: "external"})
	r := s.get(t, "other.test")
	if r.status != http.StatusOK || r.header.Get("x-sample-app") != "external" || r.header.Get("x-seen-cold-start") != "" {
		t.Fatalf("status %d, x-sample-app %q, x-seen-cold-start %q; want 200 from the external app, no cold start",
			r.status, r.header.Get("x-sample-app"), r.header.Get("x-seen-cold-start"))
	}
	ts, err := s.wg.Target(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if ts.RequestsTotal != 0 || ts.Held != 0 || ts.Wakeups != 0 {
		t.Errorf("target counted the unmatched request: %+v", ts)
	}
	if got := s.metric(t, "wakegate_unmatched_requests_total"); got != 1 {
		t.Errorf("wakegate_unmatched_requests_total = %v, want 1", got)
	}
	if n := s.appStarts(t); n != 0 {
		t.Errorf("app started %d times, want 0", n)
	}
}

// TestIdleStopAndRewake: the app stops after its idle timeout and the next request wakes
// it again.
func TestIdleStopAndRewake(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{target: func(tg *harness.LocalTarget) { tg.IdleTimeout = "1s" }})
	for i := 1; i <= 2; i++ {
		r := s.get(t, appHost)
		if r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
			t.Fatalf("request %d: status %d, x-seen-cold-start %q; want 200 after a cold start", i, r.status, r.header.Get("x-seen-cold-start"))
		}
		answered := time.Now()
		s.awaitApp(t, "the idle stop", func(ts harness.TargetStatus) bool { return ts.State == "idle" && !ts.Ready })
		t.Logf("request %d: cold start %sms; idle stop seen %v after the answer (idleTimeout 1s)", i, r.header.Get("x-seen-cold-start"), time.Since(answered).Round(time.Millisecond))
		// "idle" is reported when the stop begins; the process exits a little later.
		if err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
			_, err := tryGet(t.Context(), s.app.HealthURL(), "")
			return err != nil, nil
		}); err != nil {
			t.Fatalf("after idle stop %d the app still answers: %v", i, err)
		}
	}
	if n := s.appStarts(t); n != 2 {
		t.Errorf("app started %d times, want 2", n)
	}
}

// TestWakegateDown: with wakegate stopped, fail-open Envoy still reaches a running app and
// fail-closed Envoy answers 500.
func TestWakegateDown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		failOpen bool
		want     int
	}{{"fail-open", true, http.StatusOK}, {"fail-closed", false, http.StatusInternalServerError}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, stackOptions{envoy: func(l *envoy.Local) { l.FailureModeAllow = tt.failOpen }})
			harness.SampleAppForTest(t, harness.SampleAppOptions{Bin: s.app.Bin, Listen: s.app.Listen, Name: "external"})
			if r := s.get(t, "other.test"); r.status != http.StatusOK {
				t.Fatalf("with wakegate up: status %d", r.status)
			}
			if err := s.wg.Stop(harness.StopGrace); err != nil {
				t.Fatalf("stop wakegate: %v", err)
			}
			for _, host := range []string{"other.test", appHost} {
				r := s.get(t, host)
				t.Logf("wakegate down, %s, Host %s: status %d %q", tt.name, host, r.status, r.body)
				if r.status != tt.want {
					t.Errorf("Host %s: status %d, want %d", host, r.status, tt.want)
				}
			}
		})
	}
}
