package integration

import (
	"context"
	"net/http"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// testKubeKEDAOperator: the real KEDA operator (v2.21.0) does the scaling. It connects to
// wakegate's scaler at the ScaledObject's scalerAddress; a cold request makes wakegate push
// true, KEDA scales web 0 → 1 at once, and the held request is released 200. The figure
// logged is the time from the push (as a second StreamIsActive client saw it) to web at 1.
//
// The operator is the optional tier of tools/k8s/build.sh (--with-keda, ~7 min to build):
// without it this subtest is skipped, also under CI=true.
func testKubeKEDAOperator(t *testing.T, env *kubeEnv) {
	if env.c.Binaries().KEDAOperator == "" {
		t.Skip("KEDA operator not built (optional tier: tools/k8s/build.sh --with-keda); " +
			"skipped even with CI=true, the push protocol itself is covered by KEDAPush")
	}
	a := env.startKubeApp(t, "keda-operator", kubeAppOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	if err := env.c.StartKEDA(ctx); err != nil {
		t.Fatal(err)
	}
	awaitLog(t, a.wg.Process, 90*time.Second, "StreamIsActive watching", `"namespace":"`+a.ns+`"`, `"configured":true`)
	t.Logf("KEDA operator up and streaming from wakegate %v after its start", time.Since(began).Round(time.Millisecond))

	// A second client of the same stream timestamps the push KEDA receives.
	ref := &pb.ScaledObjectRef{Namespace: a.ns, Name: "web", ScalerMetadata: webMetadata(a.wg.Ports.Scaler)}
	pushes := openIsActiveStream(t, a.wg.Ports.Scaler, ref)
	if m := nextPush(t, pushes, "the first StreamIsActive message"); m.active {
		t.Fatal("StreamIsActive starts with true for a target at zero without requests")
	}
	if r := env.webReplicas(t, a.ns); r != 0 {
		t.Fatalf("KEDA scaled web to %d before any request, want 0", r)
	}
	cold0, _, probes0 := a.backend.counts()
	sent := time.Now()
	ch := sendKube(t, a.gatedURL(), "web.test")
	push := nextPush(t, pushes, "true after the cold request")
	if !push.active {
		t.Fatal("StreamIsActive sent false again, want true once a request is held")
	}
	a.tl.await(t, 30*time.Second, "KEDA to scale web to 1", func(tl *kubeTimeline) bool {
		_, ok := first(tl.replicas, sent, func(v int32) bool { return v == 1 })
		return ok
	})
	scaledAt, _ := a.tl.firstReplicas(1, sent)
	r := awaitReply(t, ch, 30*time.Second, "cold request")
	if r.status != http.StatusOK || r.header.Get("x-seen-cold-start") == "" {
		t.Fatalf("cold request: %d %q, cold-start header %q; want 200 from the backend with it", r.status, r.body, r.header.Get("x-seen-cold-start"))
	}
	readyAt, _ := a.tl.firstReady(sent)
	t.Logf("KEDA operator: request → push %v; push → web at 1 replica (KEDA) %v; → ready endpoint %v; → response %v",
		push.at.Sub(sent).Round(time.Millisecond), scaledAt.Sub(push.at).Round(time.Millisecond),
		readyAt.Sub(scaledAt).Round(time.Millisecond), r.at.Sub(readyAt).Round(time.Millisecond))
	a.checkWoken(t, sent, 1, cold0, probes0)
}
