package integration

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// asyncResult is the outcome of a request sent in the background.
type asyncResult struct {
	reply
	err  error
	sent time.Time // just before the request was sent
	at   time.Time // when the answer (or the error) arrived
}

// sendAsync sends GET url with Host host in the background and delivers the result on out,
// which must have room for it (the goroutine must not outlive the test blocked on a send).
// The request ends with t's context.
func sendAsync(t testing.TB, out chan<- asyncResult, url, host string, headers ...string) {
	ctx := t.Context()
	sent := time.Now()
	go func() {
		r, err := tryGet(ctx, url, host, headers...)
		out <- asyncResult{reply: r, err: err, sent: sent, at: time.Now()}
	}()
}

// awaitResults waits up to d for n results from ch and fails t if they do not all arrive.
func awaitResults(t testing.TB, ch <-chan asyncResult, n int, d time.Duration, what string) []asyncResult {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	out := make([]asyncResult, 0, n)
	for len(out) < n {
		select {
		case r := <-ch:
			out = append(out, r)
		case <-timer.C:
			t.Fatalf("%s: %d of %d answers within %v", what, len(out), n, d)
		}
	}
	return out
}

// assertUnanswered fails t if a result is waiting on ch.
func assertUnanswered(t testing.TB, ch <-chan asyncResult, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: a request was answered already (status %d, err %v)", what, r.status, r.err)
	default:
	}
}

// appTarget is a target called name, matching host, that runs the sample app app and is
// ready when readyURL answers 2xx (the app's /healthz if readyURL is "").
func appTarget(name, host string, app harness.SampleAppOptions, readyURL string) harness.LocalTarget {
	if readyURL == "" {
		readyURL = app.HealthURL()
	}
	return harness.LocalTarget{
		Name:            name,
		Match:           harness.Match{Hosts: []string{host}},
		Process:         harness.ProcessSpec{Command: app.Command()},
		Readiness:       harness.ReadinessCheck{HTTP: readyURL, Interval: "20ms"},
		IdleTimeout:     "10m",
		HoldTimeout:     "20s",
		StopGracePeriod: "5s",
	}
}

// sampleApp returns the options of a sample app called name on a free loopback port.
func sampleApp(t testing.TB, name string) harness.SampleAppOptions {
	return harness.SampleAppOptions{Bin: binaries(t).SampleApp, Name: name,
		Listen: fmt.Sprintf("127.0.0.1:%d", harness.FreePortForTest(t))}
}

// startTargets starts wakegate with targets and an ext_proc Envoy whose app cluster is
// the app listening at appAddr, all stopped when t ends.
func startTargets(t testing.TB, targets []harness.LocalTarget, appAddr string, args ...string) (*harness.Wakegate, *harness.Envoy) {
	t.Helper()
	wg := harness.WakegateForTest(t, harness.WakegateOptions{Bin: binaries(t).Wakegate, Args: args,
		Config: harness.LocalConfig{Targets: targets}})
	return wg, startEnvoy(t, testBootstrap(t, portOf(t, appAddr), wg.Ports.Envoy))
}

// portOf returns the port of a host:port address.
func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return atoi(t, p)
}

// awaitHealthy waits until the app at url answers 200.
func awaitHealthy(t testing.TB, url string) {
	t.Helper()
	if err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
		r, err := tryGet(t.Context(), url, "")
		return err == nil && r.status == http.StatusOK, err
	}); err != nil {
		t.Fatalf("%s never answered 200: %v", url, err)
	}
}

// wakegateMetric returns one metric of wg (see harness.Metrics.Value).
func wakegateMetric(t testing.TB, wg *harness.Wakegate, name string, labels ...string) float64 {
	t.Helper()
	m, err := wg.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m.Value(name, labels...)
}

// extAuthzBootstrap is envoy.DefaultExtAuthz with OS-chosen admin and listener ports,
// routing to the app at appAddr and asking wakegate's Envoy port wgAddr.
func extAuthzBootstrap(t testing.TB, appAddr, wgAddr string) envoy.ExtAuthz {
	t.Helper()
	host, _, err := net.SplitHostPort(wgAddr)
	if err != nil {
		t.Fatalf("wakegate address %q: %v", wgAddr, err)
	}
	a := envoy.DefaultExtAuthz()
	a.AdminPort, a.ListenPort = 0, 0
	a.AppPort, a.WakegateHost, a.WakegatePort = portOf(t, appAddr), host, portOf(t, wgAddr)
	return a
}
