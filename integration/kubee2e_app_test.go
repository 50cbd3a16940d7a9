package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// kubeApp is one namespace of a TestKube* test: Deployment and Service web, ScaledObject
// web (Host web.test), the loopback backend standing in for web's pods, `wakegate serve`
// watching the namespace as ServiceAccount wakegate, Envoy in front of the backend asking
// wakegate, and a timeline of web's replicas and ready endpoints.
type kubeApp struct {
	env     *kubeEnv
	ns      string
	target  string // "ns/web"
	backend *kubeBackend
	wg      *harness.Wakegate
	envoy   *harness.Envoy
	tl      *kubeTimeline
}

// kubeAppOptions adjust a kubeApp.
type kubeAppOptions struct {
	directWake bool
	// lateGrant binds wakegate's Role only after wakegate has started and failed to list,
	// to check that /readyz turns 200 only once its informers have synced.
	lateGrant bool
}

// startKubeApp sets up namespace ns and everything in it; all of it is stopped (the
// namespace deleted) when t ends. It returns once wakegate lists target ns/web.
func (e *kubeEnv) startKubeApp(t *testing.T, ns string, o kubeAppOptions) *kubeApp {
	t.Helper()
	e.createNamespace(t, ns)
	e.createWorkload(t, ns)
	kubeconfig := e.serviceAccountKubeconfig(t, ns)
	if !o.lateGrant {
		e.grantWakegate(t, ns, o.directWake)
	}
	a := &kubeApp{env: e, ns: ns, target: ns + "/web", backend: startKubeBackend(t)}
	a.wg = startKubeWakegate(t, kubeWakegateOptions{kubeconfig: kubeconfig, namespace: ns,
		dialTo: a.backend.addr, directWake: o.directWake})
	e.createScaledObject(t, scaledObject(ns, "web", webMetadata(a.wg.Ports.Scaler)))
	if o.lateGrant {
		a.checkReadyOnlyAfterSync(t, o.directWake)
	} else {
		awaitListed(t, a.wg, a.target, true)
		if code, body, err := adminGet(t.Context(), a.wg, "/readyz"); err != nil || code != http.StatusOK {
			t.Fatalf("/readyz with target %s listed = %d %q (%v), want 200", a.target, code, body, err)
		}
	}
	l := testBootstrap(t, a.backend.port(t), a.wg.Ports.Envoy)
	l.MessageTimeout = 30 * time.Second // above the ScaledObject's 20s holdTimeout
	a.envoy = startEnvoy(t, l)
	a.tl = e.watchTimeline(t, ns)
	return a
}

// checkReadyOnlyAfterSync: wakegate runs as a ServiceAccount without any Role yet, so its
// informers cannot list: /readyz must answer 503 naming the informers while /healthz
// answers 200. Once the documented Role is bound, the informers list on their next retry,
// and the first 200 from /readyz must come with the target already in /status.
func (a *kubeApp) checkReadyOnlyAfterSync(t *testing.T, directWake bool) {
	t.Helper()
	awaitLog(t, a.wg.Process, 30*time.Second, "forbidden", "system:serviceaccount:"+a.ns+":wakegate")
	code, body, err := adminGet(t.Context(), a.wg, "/readyz")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "informers synced") {
		t.Fatalf("/readyz while the informers cannot list = %d %q (%v), want 503 naming the informers", code, body, err)
	}
	if code, body, err := adminGet(t.Context(), a.wg, "/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("/healthz while the informers cannot list = %d %q (%v), want 200 (liveness is not readiness)", code, body, err)
	}
	if ok, err := listed(t.Context(), a.wg, a.target); err != nil || ok {
		t.Fatalf("/status lists %s before the informers could list (err %v)", a.target, err)
	}
	granted := time.Now()
	a.env.grantWakegate(t, a.ns, directWake)
	var targetListed bool
	err = harness.Poll(deadline(t, 60*time.Second), func() (bool, error) {
		code, body, err := adminGet(t.Context(), a.wg, "/readyz")
		if err != nil || code != http.StatusOK {
			return false, &readyzErr{code, body, err}
		}
		// The first 200: the target set built from the full listing must be in place.
		targetListed, err = listed(t.Context(), a.wg, a.target)
		return true, err
	})
	if err != nil {
		t.Fatalf("/readyz after the Role was bound: %v", err)
	}
	if !targetListed {
		t.Fatalf("/readyz answered 200 before /status listed %s", a.target)
	}
	t.Logf("/readyz: 503 while wakegate's informers were forbidden to list; 200 %v after the Role was bound, target listed",
		time.Since(granted).Round(time.Millisecond))
}

// readyzErr is why /readyz is not 200 yet, for Poll's last detail.
type readyzErr struct {
	code int
	body string
	err  error
}

func (e *readyzErr) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return strings.TrimSpace(e.body) + " (" + http.StatusText(e.code) + ")"
}

// gatedURL is the URL of Envoy's listener that asks wakegate first.
func (a *kubeApp) gatedURL() string { return a.envoy.URL("gated") + "/" }

// metric returns one wakegate metric (see harness.Metrics.Value).
func (a *kubeApp) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m, err := a.wg.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m.Value(name, labels...)
}

// awaitNotReady waits until wakegate reports the target not ready (web scaled back to zero
// and its endpoints gone).
func (a *kubeApp) awaitNotReady(t testing.TB) {
	t.Helper()
	if _, err := a.wg.AwaitTarget(deadline(t, 60*time.Second), a.target,
		func(s harness.TargetStatus) bool { return !s.Ready }); err != nil {
		t.Fatalf("waiting for %s to be not ready: %v", a.target, err)
	}
}
