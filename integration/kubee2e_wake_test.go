package integration

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// wakeFigures are the timings of one cold wake, measured by the test's own watches.
type wakeFigures struct {
	toReplicas      time.Duration // request sent → Deployment web seen at 1 replica
	toReady         time.Duration // request sent → Service web seen with a ready endpoint
	readyToResponse []time.Duration
}

// coldWake sends n concurrent requests for host while web is at zero and wakegate runs with
// --direct-wake, and checks the main path end to end: wakegate holds them, scales the
// Deployment from 0 to exactly 1 (never more), kwok makes the pod Ready, the EndpointSlice
// gets a ready endpoint, the release probe connects (to the loopback backend), and every
// request is answered 200 by the backend, which saw x-wakegate-cold-start.
func (a *kubeApp) coldWake(t *testing.T, host string, n int) wakeFigures {
	t.Helper()
	if r := a.env.webReplicas(t, a.ns); r != 0 {
		t.Fatalf("before the cold requests: web has %d replicas, want 0", r)
	}
	cold0, _, probes0 := a.backend.counts()
	sent := time.Now()
	chs := make([]<-chan kubeReply, n)
	for i := range chs {
		chs[i] = sendKube(t, a.gatedURL(), host)
	}
	a.tl.await(t, 30*time.Second, "web scaled to 1", func(tl *kubeTimeline) bool {
		_, ok := first(tl.replicas, sent, func(v int32) bool { return v == 1 })
		return ok
	})
	scaledAt, _ := a.tl.firstReplicas(1, sent)
	for i, ch := range chs { // kwok delays the pod's readiness by 300ms: nothing can be released yet
		stillHeld(t, ch, "cold request "+strconv.Itoa(i)+" when web was scaled to 1")
	}
	a.tl.await(t, 30*time.Second, "a ready endpoint of web", func(tl *kubeTimeline) bool {
		_, ok := first(tl.ready, sent, func(v int) bool { return v > 0 })
		return ok
	})
	readyAt, _ := a.tl.firstReady(sent)
	f := wakeFigures{toReplicas: scaledAt.Sub(sent), toReady: readyAt.Sub(sent)}
	for i, ch := range chs {
		r := awaitReply(t, ch, 30*time.Second, "cold request "+strconv.Itoa(i))
		if r.status != http.StatusOK || r.body != "hello from web\n" || r.header.Get("x-seen-cold-start") == "" {
			t.Fatalf("cold request %d: %d %q, backend saw x-wakegate-cold-start %q; want 200 from the backend with the header",
				i, r.status, r.body, r.header.Get("x-seen-cold-start"))
		}
		if !r.at.After(scaledAt) {
			t.Errorf("cold request %d answered at %v, before web was scaled (%v): it was not held", i, r.at, scaledAt)
		}
		f.readyToResponse = append(f.readyToResponse, r.at.Sub(readyAt))
	}
	slices.Sort(f.readyToResponse)
	a.checkWoken(t, sent, n, cold0, probes0)
	return f
}

// checkWoken checks the aftermath of a cold wake begun at sent: the Deployment never went
// above 1 replica and is at 1, the backend saw n more cold-start headers, and the release
// probe connected to it at least once.
func (a *kubeApp) checkWoken(t *testing.T, sent time.Time, n int, cold0 []string, probes0 int) {
	t.Helper()
	if m := a.tl.maxReplicas(sent); m != 1 {
		t.Errorf("web's replicas since the cold requests peaked at %d (history %v), want exactly 1", m, a.tl.replicaValues())
	}
	if r := a.env.webReplicas(t, a.ns); r != 1 {
		t.Errorf("web has %d replicas after the wake, want 1", r)
	}
	cold, _, probes := a.backend.counts()
	if got := len(cold) - len(cold0); got != n {
		t.Errorf("backend saw x-wakegate-cold-start on %d requests (%v), want %d", got, cold[len(cold0):], n)
	}
	if probes <= probes0 {
		t.Errorf("the release probe never connected to the loopback backend (%d probe connections)", probes-probes0)
	}
}

// logWake logs the figures of a cold wake.
func logWake(t *testing.T, what string, f wakeFigures) {
	t.Helper()
	t.Logf("%s: request → web at 1 replica %v; request → ready endpoint %v; ready endpoint → response %v",
		what, f.toReplicas.Round(time.Millisecond), f.toReady.Round(time.Millisecond), roundAll(f.readyToResponse))
}

// warmGet sends one request for host and checks that the backend answered it at once:
// 200, without a cold-start header.
func (a *kubeApp) warmGet(t *testing.T, host string) {
	t.Helper()
	r := get(t, a.gatedURL(), host)
	if r.status != http.StatusOK || r.body != "hello from web\n" || r.header.Get("x-seen-cold-start") != "" {
		t.Fatalf("request for %s: %d %q, cold-start header %q; want 200 from the backend without one",
			host, r.status, r.body, r.header.Get("x-seen-cold-start"))
	}
}

// scaleToZero scales web to 0 and waits until wakegate reports the target not ready.
func (a *kubeApp) scaleToZero(t *testing.T) {
	t.Helper()
	a.env.scaleWeb(t, a.ns, 0)
	a.tl.await(t, 60*time.Second, "web's endpoints gone", func(tl *kubeTimeline) bool {
		return len(tl.ready) > 0 && tl.ready[len(tl.ready)-1].v == 0
	})
	a.awaitNotReady(t)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
