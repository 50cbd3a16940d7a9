package integration

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// traffic sends requests one after another (at most one per pace) in the background and
// records every answer, until stopped.
type traffic struct {
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	results  []asyncResult
}

// startTraffic sends GET url with Host host until stop or the test's end.
func startTraffic(t *testing.T, url, host string, pace time.Duration) *traffic {
	tr := &traffic{stopCh: make(chan struct{}), done: make(chan struct{})}
	ctx := t.Context()
	go func() {
		defer close(tr.done)
		tick := time.NewTicker(pace)
		defer tick.Stop()
		for {
			sent := time.Now()
			r, err := tryGet(ctx, url, host)
			tr.mu.Lock()
			tr.results = append(tr.results, asyncResult{reply: r, err: err, sent: sent, at: time.Now()})
			tr.mu.Unlock()
			select {
			case <-tr.stopCh:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { tr.stop() })
	return tr
}

// stop ends the traffic and returns every answer, in order.
func (tr *traffic) stop() []asyncResult {
	tr.stopOnce.Do(func() { close(tr.stopCh) })
	<-tr.done
	return tr.snapshot()
}

// snapshot returns the answers so far.
func (tr *traffic) snapshot() []asyncResult {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]asyncResult(nil), tr.results...)
}

// failures returns the answers that were not 200 among rs, sent in [from, to).
func failures(rs []asyncResult, from, to time.Time) []asyncResult {
	var out []asyncResult
	for _, r := range rs {
		if !r.sent.Before(from) && r.sent.Before(to) && (r.err != nil || r.status != http.StatusOK) {
			out = append(out, r)
		}
	}
	return out
}

// sendCancelable is sendAsync with a context of its own, derived from parent: cancelling
// it makes the client go away (Envoy then resets the ext_proc stream, ending the hold). It
// returns the cancel function and when the request was sent.
func sendCancelable(parent context.Context, out chan<- asyncResult, url, host string) (context.CancelFunc, time.Time) {
	ctx, cancel := context.WithCancel(parent)
	sent := time.Now()
	go func() {
		r, err := tryGet(ctx, url, host)
		out <- asyncResult{reply: r, err: err, sent: sent, at: time.Now()}
	}()
	return cancel, sent
}

// localHeld returns each replica's own held count of target, by id.
func localHeld(t *testing.T, rs []*haReplica, target string) map[string]int64 {
	t.Helper()
	out := make(map[string]int64, len(rs))
	for _, r := range rs {
		out[r.id] = r.row(t, target).Held
	}
	return out
}

// heldOne is a request held on one replica.
type heldOne struct {
	holder string             // the replica's id
	sent   time.Time          // when the request was sent
	cancel context.CancelFunc // makes the client go away
}

// holdOne sends one request for target "cold" through url and finds the replica among rs
// that holds it (the one whose own held count rose). The request lasts until ctx ends (or
// its cancel); its answer goes to out, which must have room for it.
func holdOne(t *testing.T, ctx context.Context, rs []*haReplica, out chan<- asyncResult, url string) heldOne {
	t.Helper()
	before := localHeld(t, rs, "cold")
	cancel, sent := sendCancelable(ctx, out, url, haColdHost)
	var holder string
	err := harness.Poll(deadline(t, 20*time.Second), func() (bool, error) {
		now := localHeld(t, rs, "cold")
		for id, n := range now {
			if n > before[id] {
				holder = id
				return true, nil
			}
		}
		return false, fmt.Errorf("held %v, before %v", now, before)
	})
	if err != nil {
		cancel()
		t.Fatalf("the request to %s is held nowhere: %v", haColdHost, err)
	}
	return heldOne{holder: holder, sent: sent, cancel: cancel}
}

// envoyHost is one endpoint of Envoy's wakegate cluster as its admin /clusters shows it.
type envoyHost struct {
	healthy bool  // health_flags is "healthy"
	rqTotal int64 // streams Envoy sent it
}

// wakegateHosts returns the endpoints of e's wakegate cluster, by address.
func wakegateHosts(t *testing.T, e *harness.Envoy) map[string]envoyHost {
	t.Helper()
	r, err := tryGet(t.Context(), e.AdminURL()+"/clusters", "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]envoyHost{}
	for line := range strings.Lines(r.body) {
		parts := strings.Split(strings.TrimSpace(line), "::")
		if len(parts) != 4 || parts[0] != "wakegate" {
			continue
		}
		h := out[parts[1]]
		switch parts[2] {
		case "health_flags":
			h.healthy = parts[3] == "healthy"
		case "rq_total":
			h.rqTotal, _ = strconv.ParseInt(parts[3], 10, 64)
		}
		out[parts[1]] = h
	}
	return out
}

// awaitHostHealth polls e's /clusters until the endpoint at addr is (healthy) or is not
// healthy, and returns when it saw it.
func awaitHostHealth(t *testing.T, e *harness.Envoy, addr string, healthy bool) time.Time {
	t.Helper()
	err := harness.Poll(deadline(t, 10*time.Second), func() (bool, error) {
		h, ok := wakegateHosts(t, e)[addr]
		return ok && h.healthy == healthy, fmt.Errorf("%s: %+v (present %v)", addr, h, ok)
	})
	if err != nil {
		t.Fatalf("%s: waiting for wakegate %s to be healthy=%v: %v", e.Name(), addr, healthy, err)
	}
	return time.Now()
}
