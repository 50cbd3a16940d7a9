package integration

import (
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/wakegate/wakegate/integration/harness"
)

// exitBound is how long after its --shutdown-delay wakegate may take to exit (asserted
// loosely): answering held requests, the gRPC graceful stop and stopping the app.
const exitBound = 5 * time.Second

// TestSIGTERMDrainAnswersHeld: on SIGTERM wakegate reports not ready at once while its
// gRPC port keeps serving (and holding) for --shutdown-delay; then every held request gets
// 503 + Retry-After, KEDA's StreamIsActive ends cleanly, wakegate exits 0, and the app it
// started is gone.
func TestSIGTERMDrainAnswersHeld(t *testing.T) {
	t.Parallel()
	const delay = time.Second
	// The app never listens: held requests stay held until the drain.
	s := startStack(t, stackOptions{startupDelay: "1h", args: []string{"--shutdown-delay", delay.String(), "--retry-after", "3s"}})
	results := make(chan asyncResult, 3)
	for range 2 {
		sendAsync(t, results, s.envoy.URL("gated")+"/", appHost)
	}
	s.awaitApp(t, "2 held", func(ts harness.TargetStatus) bool { return ts.Held == 2 })
	pid, err := s.wg.AwaitStartedPID(deadline(t, 10*time.Second), "app", 1)
	if err != nil {
		t.Fatal(err)
	}
	keda := streamIsActive(t, scalerClient(t, s.wg.Ports.Scaler), &pb.ScaledObjectRef{Name: "app", Namespace: "default"})
	if m := nextMsg(t, keda, "StreamIsActive's first message"); !m.active {
		t.Fatal("StreamIsActive: false while requests are held")
	}

	signaled := time.Now()
	if err := s.wg.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	notReady := awaitDraining(t, s.wg)
	t.Logf("/readyz 503 %v after SIGTERM", notReady.Sub(signaled).Round(time.Millisecond))
	assertUnanswered(t, results, "when /readyz turned 503")
	select {
	case m := <-keda:
		t.Fatalf("StreamIsActive sent %v (err %v) before the delay ended", m.active, m.err)
	default:
	}
	if got := envoyPortHealth(t, s.wg.Ports.Envoy); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("gRPC health on the Envoy port during the delay = %v, want NOT_SERVING", got)
	}
	// The Envoy port still takes (and holds) requests during the delay.
	sendAsync(t, results, s.envoy.URL("gated")+"/", appHost)
	s.awaitApp(t, "3 held during the delay", func(ts harness.TargetStatus) bool { return ts.Held == 3 })

	for _, r := range awaitResults(t, results, 3, delay+exitBound, "held requests at the drain") {
		t.Logf("held request answered %v after SIGTERM: %d, Retry-After %q", r.at.Sub(signaled).Round(time.Millisecond), r.status, r.header.Get("retry-after"))
		if r.err != nil || r.status != http.StatusServiceUnavailable || r.header.Get("retry-after") != "3" {
			t.Errorf("held request: status %d, Retry-After %q, err %v; want 503, 3", r.status, r.header.Get("retry-after"), r.err)
		}
		if r.at.Sub(signaled) < delay {
			t.Errorf("held request answered %v after SIGTERM, before the %v shutdown delay", r.at.Sub(signaled), delay)
		}
	}
	awaitKEDAStreamEnd(t, keda, signaled, delay)
	awaitExit(t, s.wg, signaled, delay)
	if harness.ProcessAlive(pid) {
		t.Errorf("the app wakegate started (pid %d) is still there after wakegate exited", pid)
	}
}

// awaitKEDAStreamEnd waits for the StreamIsActive stream to end and checks it ended cleanly
// (io.EOF, so KEDA resets its back-off) once the shutdown delay was over.
func awaitKEDAStreamEnd(t testing.TB, keda <-chan activeMsg, signaled time.Time, delay time.Duration) {
	t.Helper()
	for {
		select {
		case m, ok := <-keda:
			if !ok || m.err == nil {
				continue // a value pushed while draining; the end follows
			}
			t.Logf("KEDA stream ended %v after SIGTERM: %v", m.at.Sub(signaled).Round(time.Millisecond), m.err)
			if !errors.Is(m.err, io.EOF) {
				t.Errorf("KEDA stream ended with %v, want a clean end (EOF)", m.err)
			}
			if m.at.Sub(signaled) < delay {
				t.Errorf("KEDA stream ended %v after SIGTERM, before the %v shutdown delay", m.at.Sub(signaled), delay)
			}
			return
		case <-deadline(t, delay+exitBound).Done():
			t.Fatal("KEDA stream still open after the shutdown")
		}
	}
}

// TestSIGTERMDrainReleasesReady: a target that becomes ready during --shutdown-delay
// releases its held requests with 200, and wakegate still exits 0.
func TestSIGTERMDrainReleasesReady(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second
	sw := startReadinessSwitch(t)
	s := startStack(t, stackOptions{args: []string{"--shutdown-delay", delay.String()}, target: func(tg *harness.LocalTarget) {
		tg.Readiness.HTTP = sw.url
	}})
	results := make(chan asyncResult, 2)
	for range 2 {
		sendAsync(t, results, s.envoy.URL("gated")+"/", appHost)
	}
	s.awaitApp(t, "2 held", func(ts harness.TargetStatus) bool { return ts.Held == 2 })
	awaitHealthy(t, s.app.HealthURL())
	pid, err := s.wg.AwaitStartedPID(deadline(t, 10*time.Second), "app", 1)
	if err != nil {
		t.Fatal(err)
	}

	signaled := time.Now()
	if err := s.wg.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	awaitDraining(t, s.wg)
	sw.ready.Store(true)
	for _, r := range awaitResults(t, results, 2, delay+exitBound, "held requests") {
		t.Logf("held request answered %v after SIGTERM: %d", r.at.Sub(signaled).Round(time.Millisecond), r.status)
		if r.err != nil || r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
			t.Errorf("held request: status %d, x-seen-cold-start %q, err %v; want 200 after a hold", r.status, r.header.Get("x-seen-cold-start"), r.err)
		}
	}
	awaitExit(t, s.wg, signaled, delay)
	if harness.ProcessAlive(pid) {
		t.Errorf("the app wakegate started (pid %d) is still there after wakegate exited", pid)
	}
}

// awaitDraining polls /readyz right after the signal until it answers 503, and returns
// when it did.
func awaitDraining(t testing.TB, wg *harness.Wakegate) time.Time {
	t.Helper()
	err := harness.Poll(deadline(t, 5*time.Second), func() (bool, error) {
		code, err := wg.Readyz(t.Context())
		if err != nil {
			return false, harness.GiveUp(err) // the admin listener closed before draining showed
		}
		return code == http.StatusServiceUnavailable, nil
	})
	if err != nil {
		t.Fatalf("/readyz never answered 503 after SIGTERM: %v", err)
	}
	return time.Now()
}

// awaitExit waits for wg to exit after the signal and checks it exited 0 within delay +
// exitBound.
func awaitExit(t testing.TB, wg *harness.Wakegate, signaled time.Time, delay time.Duration) {
	t.Helper()
	select {
	case <-wg.Done():
	case <-deadline(t, delay+2*exitBound).Done():
		t.Fatalf("wakegate still running %v after SIGTERM", time.Since(signaled))
	}
	took := time.Since(signaled)
	t.Logf("wakegate exited %v after SIGTERM (shutdown delay %v): %v", took.Round(time.Millisecond), delay, wg.ExitErr())
	if err := wg.ExitErr(); err != nil {
		t.Errorf("wakegate exited with %v, want status 0", err)
	}
	if took > delay+exitBound {
		t.Errorf("wakegate took %v to exit, want under %v", took, delay+exitBound)
	}
}

// envoyPortHealth asks the gRPC health service on wakegate's Envoy port; a failed call
// fails t (the port must still be serving).
func envoyPortHealth(t testing.TB, addr string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(deadline(t, 5*time.Second), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("gRPC health on the Envoy port: %v", err)
	}
	return resp.GetStatus()
}
