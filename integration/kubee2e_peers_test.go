package integration

import (
	"fmt"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"

	"github.com/wakegate/wakegate/integration/harness"
)

// The peer Service of TestKubePeers and the pod addresses its EndpointSlice lists. Nothing
// ever connects to those addresses: --peer-dial-map sends each to a replica on loopback.
const (
	peerService  = "wakegate-peers"
	peerSlice    = "wakegate-peers-1"
	peerPortName = "grpc-peer"
	peerPort     = 9091
	peerStale    = 3 * time.Second // --peer-staleness: three of the peers' 1s heartbeats
)

// peerReplica is one `wakegate serve` replica of TestKubePeers, with the Envoy in front of it.
type peerReplica struct {
	id, podIP string
	peerPort  int // the loopback port it serves its peers on
	wg        *harness.Wakegate
	envoy     *harness.Envoy
	scaler    pb.ExternalScalerClient // KEDA's generated client on its scaler port
}

// TestKubePeers runs two `wakegate serve` replicas, a and b, that find each other as a
// Kubernetes deployment of wakegate does: through the EndpointSlice of a headless Service
// (--peer-service), here a Service without selector and a hand-made slice whose endpoints
// 10.244.0.11 and 10.244.0.12 are a's and b's pods, mapped to their loopback peer ports
// with --peer-dial-map. Each replica leaves its own endpoint out (targetRef = its pod name
// = its --replica-id), subscribes to the other and reports the other's counts to KEDA's
// generated client. Removing b's endpoint makes a unsubscribe, keep b's held request for
// the staleness bound and then drop b; stopping a makes b drop a at its goodbye.
func TestKubePeers(t *testing.T) {
	env := startKubeEnv(t)
	const ns = "peers"
	env.createNamespace(t, ns)
	env.createWorkload(t, ns)
	kubeconfig := env.serviceAccountKubeconfig(t, ns)
	env.grantWakegate(t, ns, false)
	env.createPeerService(t, ns)
	a := &peerReplica{id: "wakegate-a", podIP: "10.244.0.11", peerPort: harness.FreePortForTest(t)}
	b := &peerReplica{id: "wakegate-b", podIP: "10.244.0.12", peerPort: harness.FreePortForTest(t)}
	for b.peerPort == a.peerPort {
		b.peerPort = harness.FreePortForTest(t)
	}
	env.putPeerSlice(t, ns, true, a, b)

	// Ports chosen beforehand so the dial map can name them: a port another process takes
	// between FreePort and wakegate's listen fails the start (a small, documented race).
	dialMap := fmt.Sprintf("%s=127.0.0.1:%d,%s=127.0.0.1:%d", a.peerAddr(), a.peerPort, b.peerAddr(), b.peerPort)
	backend := startKubeBackend(t)
	began := time.Now()
	for _, r := range []*peerReplica{a, b} {
		r.start(t, kubeWakegateOptions{kubeconfig: kubeconfig, namespace: ns, dialTo: backend.addr, args: []string{
			"--replica-id", r.id, "--peer-addr", "127.0.0.1:" + strconv.Itoa(r.peerPort), "--peer-service", peerService,
			"--peer-namespace", ns, "--peer-dial-map", dialMap, "--peer-staleness", peerStale.String()}})
	}
	env.createScaledObject(t, scaledObject(ns, "web", webMetadata(a.wg.Ports.Scaler)))
	for _, r := range []*peerReplica{a, b} {
		r.awaitReady(t, ns+"/web")
		awaitMetric(t, r, "each replica follows the other", "wakegate_peer_live", 1)
		awaitLog(t, r.wg.Process, 10*time.Second, "peer discovery: first peer list", fmt.Sprintf(`["127.0.0.1:%d"]`, r.other(a, b).peerPort))
	}
	t.Logf("mesh formed (both ready, each following the other) %v after the replicas started", time.Since(began).Round(time.Millisecond))
	for _, r := range []*peerReplica{a, b} {
		r.envoy = startEnvoy(t, testBootstrap(t, backend.port(t), r.wg.Ports.Envoy))
	}

	held := testKubePeersHold(t, ns, a, b)
	env.scaleWeb(t, ns, 1)
	for i, ch := range held {
		if r := awaitReply(t, ch, 30*time.Second, fmt.Sprintf("held request %d", i+1)); r.status != http.StatusOK {
			t.Fatalf("held request %d: %d %q after web was scaled to 1, want 200", i+1, r.status, r.body)
		}
	}
	for _, r := range []*peerReplica{a, b} {
		awaitConcurrency(t, r, ns, 0, "both released")
	}
	testKubePeersRemoved(t, env, ns, a, b)
	testKubePeersGoodbye(t, a, b)
}

// testKubePeersHold: a request held on b turns a's StreamIsActive true and is a's
// concurrency (a counts none of its own); a second one held on a makes both report 2.
// It returns the held requests' outcomes.
func testKubePeersHold(t *testing.T, ns string, a, b *peerReplica) []<-chan kubeReply {
	ref := &pb.ScaledObjectRef{Namespace: ns, Name: "web", ScalerMetadata: map[string]string{"metric": "concurrency"}}
	pushes := openIsActiveStream(t, a.wg.Ports.Scaler, ref)
	if m := nextPush(t, pushes, "a's first StreamIsActive message"); m.active {
		t.Fatal("a's StreamIsActive starts with true for a target at zero without requests")
	}
	sent := time.Now()
	held := []<-chan kubeReply{sendKube(t, b.envoy.URL("gated")+"/", "web.test")}
	m := nextPush(t, pushes, "a's StreamIsActive true for the request held on b")
	if !m.active {
		t.Fatal("a's StreamIsActive sent false again, want true once b holds a request")
	}
	t.Logf("request held on b → a's StreamIsActive true: %v", m.at.Sub(sent).Round(10*time.Microsecond))
	stillHeld(t, held[0], "the request sent to b's Envoy")
	awaitConcurrency(t, a, ns, 1, "a counts b's held request")
	if row, err := a.wg.Target(t.Context(), ns+"/web"); err != nil || row.Held != 0 || row.RequestsTotal != 0 {
		t.Errorf("a's own counters for %s/web: %+v (%v); want none: the request went to b", ns, row, err)
	}

	held = append(held, sendKube(t, a.envoy.URL("gated")+"/", "web.test"))
	for _, r := range []*peerReplica{a, b} {
		awaitConcurrency(t, r, ns, 2, "one request held on each replica")
	}
	return held
}

// testKubePeersRemoved: b's endpoint leaves the slice while b holds a request. a's
// discovery drops b's address at once, but a keeps b's counts until the staleness bound,
// then drops b (reason stale); b, still listing a, keeps following a.
func testKubePeersRemoved(t *testing.T, env *kubeEnv, ns string, a, b *peerReplica) {
	env.scaleWeb(t, ns, 0)
	for _, r := range []*peerReplica{a, b} {
		if _, err := r.wg.AwaitTarget(deadline(t, 60*time.Second), ns+"/web",
			func(s harness.TargetStatus) bool { return !s.Ready }); err != nil {
			t.Fatalf("%s: waiting for %s/web to be not ready: %v", r.id, ns, err)
		}
	}
	ch := sendKube(t, b.envoy.URL("gated")+"/", "web.test")
	awaitConcurrency(t, a, ns, 1, "a counts the request held on b")

	removed := time.Now()
	env.putPeerSlice(t, ns, false, a)
	awaitLog(t, a.wg.Process, 30*time.Second, "peer discovery: peer list changed", `"peers":[]`)
	seen := time.Since(removed)
	if got := concurrencyOf(t, a, ns); got != 1 {
		t.Errorf("a's concurrency right after b left the slice = %v, want 1: b's counts stay until stale", got)
	}
	awaitMetric(t, a, "a drops b", "wakegate_peer_live", 0)
	dropped := time.Since(removed)
	if got := metricOf(t, a, "wakegate_peer_dropped_total", "reason", "stale"); got != 1 {
		t.Errorf("a's wakegate_peer_dropped_total{reason=stale} = %v, want 1", got)
	}
	awaitConcurrency(t, a, ns, 0, "b's counts left a's view")
	t.Logf("b's endpoint removed from the slice → a's peer list without b %v; → b dropped as stale %v (--peer-staleness %v)",
		seen.Round(time.Millisecond), dropped.Round(time.Millisecond), peerStale)
	if got := metricOf(t, b, "wakegate_peer_live"); got != 1 {
		t.Errorf("b's wakegate_peer_live = %v, want 1: a's endpoint is still in the slice", got)
	}

	env.scaleWeb(t, ns, 1)
	if r := awaitReply(t, ch, 30*time.Second, "request held on b"); r.status != http.StatusOK {
		t.Fatalf("request held on b: %d %q, want 200", r.status, r.body)
	}
}

// testKubePeersGoodbye: a gets SIGTERM; b drops it at its goodbye, well before the
// staleness bound, and a exits cleanly.
func testKubePeersGoodbye(t *testing.T, a, b *peerReplica) {
	stopped := time.Now()
	if err := a.wg.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to a: %v", err)
	}
	awaitMetric(t, b, "b drops a at its goodbye", "wakegate_peer_dropped_total", 1, "reason", "goodbye")
	goodbye := time.Since(stopped)
	select { // a second SIGTERM (Stop's) would kill a mid-shutdown
	case <-a.wg.Done():
	case <-deadline(t, harness.StopGrace).Done():
	}
	if err := a.wg.Stop(harness.StopGrace); err != nil {
		t.Fatalf("stop a: %v", err)
	}
	t.Logf("SIGTERM to a → b dropped a at its goodbye %v (polled every 20ms); a exited %v after SIGTERM",
		goodbye.Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	if goodbye >= peerStale {
		t.Errorf("b dropped a %v after SIGTERM: not by the goodbye but as stale (--peer-staleness %v)", goodbye, peerStale)
	}
	if got := metricOf(t, b, "wakegate_peer_live"); got != 0 {
		t.Errorf("b's wakegate_peer_live = %v after a's goodbye, want 0", got)
	}
}
