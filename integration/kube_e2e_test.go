package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/wakegate/wakegate/integration/harness"
)

// TestKubeServe runs `wakegate serve` (Kubernetes mode) end to end against a real loopback
// control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) with KEDA's
// CRDs and the real Envoy. The subtests share the control plane, each in its own namespace
// with its own wakegate and Envoy, and run in order: the apiserver restart and the KEDA
// operator come last because they affect the whole cluster.
func TestKubeServe(t *testing.T) {
	env := startKubeEnv(t)
	t.Run("DirectWake", func(t *testing.T) { testKubeDirectWake(t, env) })
	t.Run("KEDAPush", func(t *testing.T) { testKubeKEDAPush(t, env) })
	t.Run("RoutingFollowsScaledObjects", func(t *testing.T) { testKubeRouting(t, env) })
	t.Run("InvalidMetadata", func(t *testing.T) { testKubeInvalidMetadata(t, env) })
	t.Run("APIServerRestart", func(t *testing.T) { testKubeAPIServerRestart(t, env) })
	t.Run("KEDAOperator", func(t *testing.T) { testKubeKEDAOperator(t, env) })
}

// testKubeDirectWake: /readyz turns 200 only once the informers synced; then three
// concurrent cold requests are held, wakegate scales web 0 → 1 (exactly), and all three are
// released 200 once the EndpointSlice is ready and the release probe connected.
func testKubeDirectWake(t *testing.T, env *kubeEnv) {
	a := env.startKubeApp(t, "direct-wake", kubeAppOptions{directWake: true, lateGrant: true})
	f := a.coldWake(t, "web.test", 3)
	logWake(t, "direct wake, 3 concurrent cold requests", f)
	a.warmGet(t, "web.test")
	if got := a.metric(t, "wakegate_wakeups_total", "result", "ok"); got < 1 {
		t.Errorf("wakegate_wakeups_total{result=ok} = %v, want at least 1", got)
	}
}

// testKubeKEDAPush: without --direct-wake the wake is KEDA's. KEDA's generated client on
// wakegate's scaler port gets false, then true as soon as a request is held; the test then
// plays KEDA and scales web to 1 through the scale subresource, and the request is released.
func testKubeKEDAPush(t *testing.T, env *kubeEnv) {
	a := env.startKubeApp(t, "keda-push", kubeAppOptions{})
	ref := &pb.ScaledObjectRef{Namespace: a.ns, Name: "web", ScalerMetadata: webMetadata(a.wg.Ports.Scaler)}
	pushes := openIsActiveStream(t, a.wg.Ports.Scaler, ref)
	if m := nextPush(t, pushes, "the first StreamIsActive message"); m.active {
		t.Fatal("StreamIsActive starts with true for a target at zero without requests")
	}
	sent := time.Now()
	ch := sendKube(t, a.gatedURL(), "web.test")
	m := nextPush(t, pushes, "true after the cold request")
	if !m.active {
		t.Fatal("StreamIsActive sent false again, want true once a request is held")
	}
	t.Logf("StreamIsActive: true received %v after the request was sent to Envoy", m.at.Sub(sent).Round(10*time.Microsecond))
	if _, err := a.wg.AwaitTarget(deadline(t, 10*time.Second), a.target,
		func(s harness.TargetStatus) bool { return s.Held == 1 }); err != nil {
		t.Fatalf("waiting for the request to be held: %v", err)
	}
	stillHeld(t, ch, "cold request before anyone scaled web")
	if r := env.webReplicas(t, a.ns); r != 0 {
		t.Fatalf("web has %d replicas, want 0: without --direct-wake wakegate must leave scaling to KEDA", r)
	}
	cold0, _, probes0 := a.backend.counts()
	scaled := time.Now()
	env.scaleWeb(t, a.ns, 1) // what KEDA does on the push
	r := awaitReply(t, ch, 30*time.Second, "cold request")
	if r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
		t.Fatalf("cold request: %d %q, cold-start header %q; want 200 from the backend with it", r.status, r.body, r.header.Get("x-seen-cold-start"))
	}
	readyAt, ok := a.tl.firstReady(scaled)
	if !ok {
		t.Fatal("the request was released but the test never saw a ready endpoint of web")
	}
	t.Logf("KEDA push: scale to 1 → ready endpoint %v; ready endpoint → response %v; request held %s ms in all",
		readyAt.Sub(scaled).Round(time.Millisecond), r.at.Sub(readyAt).Round(time.Millisecond), r.header.Get("x-seen-cold-start"))
	a.checkWoken(t, scaled, 1, cold0, probes0)
}

// testKubeRouting: routing follows the ScaledObject. Changing its hosts to web2.test makes
// web.test unmatched (passed straight through, nothing woken) and web2.test gated; deleting
// it removes the target, and web2.test passes through too.
func testKubeRouting(t *testing.T, env *kubeEnv) {
	a := env.startKubeApp(t, "routing", kubeAppOptions{directWake: true})
	logWake(t, "direct wake of web.test", a.coldWake(t, "web.test", 1))
	a.setHosts(t, "web2.test")
	// web is up, so web.test answers 200 both before and after wakegate applies the
	// change; the unmatched counter tells when it has.
	unmatched := a.metric(t, "wakegate_unmatched_requests_total")
	err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
		a.warmGet(t, "web.test")
		return a.metric(t, "wakegate_unmatched_requests_total") > unmatched, fmt.Errorf("web.test still matched")
	})
	if err != nil {
		t.Fatalf("after hosts changed to web2.test: %v", err)
	}
	a.scaleToZero(t)
	a.passesUntouched(t, "web.test")
	logWake(t, "direct wake of web2.test after the hosts change", a.coldWake(t, "web2.test", 1))

	a.scaleToZero(t)
	if err := env.keda.KedaV1alpha1().ScaledObjects(a.ns).Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	awaitListed(t, a.wg, a.target, false)
	a.passesUntouched(t, "web2.test")
}

// setHosts changes the hosts key of ScaledObject web.
func (a *kubeApp) setHosts(t *testing.T, hosts string) {
	t.Helper()
	sos := a.env.keda.KedaV1alpha1().ScaledObjects(a.ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		so, err := sos.Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		so.Spec.Triggers[0].Metadata["hosts"] = hosts
		_, err = sos.Update(t.Context(), so, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set hosts of %s to %s: %v", a.target, hosts, err)
	}
}

// passesUntouched checks that a request for host, with web at zero, goes straight to the
// backend as an unmatched request and wakes nothing.
func (a *kubeApp) passesUntouched(t *testing.T, host string) {
	t.Helper()
	unmatched := a.metric(t, "wakegate_unmatched_requests_total")
	a.warmGet(t, host)
	if got := a.metric(t, "wakegate_unmatched_requests_total"); got != unmatched+1 {
		t.Errorf("wakegate_unmatched_requests_total went %v → %v for a request to %s, want +1", unmatched, got, host)
	}
	if r := a.env.webReplicas(t, a.ns); r != 0 {
		t.Errorf("a request to %s (unmatched) left web at %d replicas, want 0", host, r)
	}
}

// testKubeInvalidMetadata: a second ScaledObject with holdTimeout "banana" gets a Warning
// Event naming the key, is not a target, and the first target keeps working.
func testKubeInvalidMetadata(t *testing.T, env *kubeEnv) {
	a := env.startKubeApp(t, "invalid-metadata", kubeAppOptions{directWake: true})
	md := webMetadata(a.wg.Ports.Scaler)
	md["hosts"], md["holdTimeout"] = "bad.test", "banana"
	env.createScaledObject(t, scaledObject(a.ns, "web-bad", md))
	var found string
	err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
		evs, err := env.cs.CoreV1().Events(a.ns).List(t.Context(), metav1.ListOptions{
			FieldSelector: "involvedObject.kind=ScaledObject,involvedObject.name=web-bad,type=Warning"})
		if err != nil {
			return false, err
		}
		for _, ev := range evs.Items {
			if strings.Contains(ev.Message, "holdTimeout") && strings.Contains(ev.Message, "banana") {
				found = ev.Reason + ": " + ev.Message
				return true, nil
			}
		}
		return false, fmt.Errorf("%d Warning Events on web-bad, none naming holdTimeout and banana", len(evs.Items))
	})
	if err != nil {
		t.Fatalf("waiting for the Warning Event on ScaledObject web-bad: %v", err)
	}
	t.Logf("Warning Event on %s/web-bad: %s", a.ns, found)
	if ok, err := listed(t.Context(), a.wg, a.ns+"/web-bad"); err != nil || ok {
		t.Errorf("/status lists %s/web-bad, which has invalid metadata (err %v)", a.ns, err)
	}
	logWake(t, "direct wake of the valid target beside the invalid one", a.coldWake(t, "web.test", 1))
}

// testKubeAPIServerRestart: kube-apiserver restarts under a running wakegate; its watches
// recover: a ScaledObject created afterwards becomes a target, and a cold request still
// wakes web (the EndpointSlice watch recovered too) and is released.
func testKubeAPIServerRestart(t *testing.T, env *kubeEnv) {
	a := env.startKubeApp(t, "apiserver-restart", kubeAppOptions{directWake: true})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	restarted := time.Now()
	if err := env.c.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver restarted in %v", time.Since(restarted).Round(time.Millisecond))
	md := webMetadata(a.wg.Ports.Scaler)
	md["hosts"] = "after.test"
	env.createScaledObject(t, scaledObject(a.ns, "web-after", md))
	seen := awaitListed(t, a.wg, a.ns+"/web-after", true)
	t.Logf("ScaledObject created after the restart became a target %v after the restart began", seen.Sub(restarted).Round(time.Millisecond))
	if code, body, err := adminGet(t.Context(), a.wg, "/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("/readyz after the restart = %d %q (%v), want 200", code, body, err)
	}
	// The test's own informers reconnect with a back-off too: fresh ones see web's
	// replicas and endpoints as they happen, so the timings below are wakegate's.
	a.tl = env.watchTimeline(t, a.ns)
	logWake(t, "direct wake after the apiserver restart", a.coldWake(t, "web.test", 1))
	if n := a.wg.CountLines("wake failed"); n > 0 {
		t.Logf("wakegate retried %d failed wake(s) after the restart (expected while its connection recovers)", n)
	}
}
