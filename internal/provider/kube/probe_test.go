package kube

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// fakeDial records the addresses dialled and answers with result(attempt, addr): nil
// means a connection; errBlock means wait until the dial's context ends.
type fakeDial struct {
	mu     sync.Mutex
	addrs  []string
	result func(attempt int, addr string) error
}

var errBlock = errors.New("block")

func (d *fakeDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	n := len(d.addrs)
	d.mu.Unlock()
	if network != "tcp" {
		return nil, errors.New("network " + network)
	}
	switch err := d.result(n, addr); {
	case errors.Is(err, errBlock):
		<-ctx.Done()
		return nil, ctx.Err()
	case err != nil:
		return nil, err
	}
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

func (d *fakeDial) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

var errRefused = errors.New("connection refused")

func refuseIf(refuse bool) error {
	if refuse {
		return errRefused
	}
	return nil
}

func TestReleaseProbe(t *testing.T) {
	tests := []struct {
		name    string
		eps     []discoveryv1.Endpoint
		result  func(attempt int, addr string) error
		wait    time.Duration // from the slice turning ready to the target reported ready
		dialled []string
		warned  bool
	}{
		{name: "fails twice then connects",
			eps:    []discoveryv1.Endpoint{ep("10.0.0.1", nil)},
			result: func(n int, _ string) error { return refuseIf(n <= 2) },
			wait:   probeFirstBackoff + 2*probeFirstBackoff, dialled: []string{"10.0.0.1:8080", "10.0.0.1:8080", "10.0.0.1:8080"}},
		{name: "rotates through the endpoints",
			eps:    []discoveryv1.Endpoint{ep("10.0.0.2", nil), ep("10.0.0.1", nil)},
			result: func(_ int, addr string) error { return refuseIf(addr == "10.0.0.1:8080") },
			wait:   probeFirstBackoff, dialled: []string{"10.0.0.1:8080", "10.0.0.2:8080"}},
		{name: "never connects: released at the budget",
			eps:    []discoveryv1.Endpoint{ep("10.0.0.1", nil)},
			result: func(int, string) error { return errRefused },
			wait:   DefaultProbeBudget, warned: true,
			// attempts at 0, 50, 150, 350, 750, 1150, 1550, 1950 ms
			dialled: strings.Split(strings.Repeat("10.0.0.1:8080 ", 8), " ")[:8]},
		{name: "hanging dials: released at the budget",
			eps:    []discoveryv1.Endpoint{ep("10.0.0.1", nil)},
			result: func(int, string) error { return errBlock },
			wait:   DefaultProbeBudget, warned: true,
			// attempts at 0, 550, 1150, 1850 ms, each cut after 500 ms or at the budget
			dialled: strings.Split(strings.Repeat("10.0.0.1:8080 ", 4), " ")[:4]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := &fakeDial{result: tt.result}
				var logs bytes.Buffer
				f := readyFixture(t, Options{ReleaseProbe: ProbeTCP, Dial: d.dial, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, KeyPort, "http")
				_, changed := f.p.Ready("ns/a")
				start := time.Now()
				f.p.putSlice(endpointSlice("ns", "svc-1", "svc", []discoveryPort{port("http", 8080)}, tt.eps...))
				if ready, _ := f.p.Ready("ns/a"); ready {
					t.Fatal("ready before the probe ran")
				}
				if st := f.p.Status(); !st[0].Probing {
					t.Errorf("Status = %+v, want probing", st)
				}
				<-changed
				if got := time.Since(start); got != tt.wait {
					t.Errorf("reported ready after %s, want %s", got, tt.wait)
				}
				if ready, _ := f.p.Ready("ns/a"); !ready {
					t.Fatal("not ready after the probe")
				}
				if diff := cmp.Diff(tt.dialled, d.dialled()); diff != "" {
					t.Errorf("dialled (-want +got):\n%s", diff)
				}
				if warned := strings.Contains(logs.String(), "release probe did not connect"); warned != tt.warned {
					t.Errorf("warning logged = %v, want %v; logs:\n%s", warned, tt.warned, logs.String())
				}
			})
		})
	}
}

func TestReleaseProbeCancelledWhenNotReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDial{result: func(int, string) error { return errRefused }}
		f := readyFixture(t, Options{ReleaseProbe: ProbeTCP, Dial: d.dial})
		_, changed := f.p.Ready("ns/a")
		f.p.putSlice(endpointSlice("ns", "svc-1", "svc", []discoveryPort{port("http", 8080)}, ep("10.0.0.1", nil)))
		time.Sleep(100 * time.Millisecond)
		f.p.deleteSlice(endpointSlice("ns", "svc-1", "svc", nil))
		synctest.Wait() // the probe goroutine has ended: nothing else is running
		dialled := len(d.dialled())
		time.Sleep(2 * DefaultProbeBudget)
		if isClosed(changed) {
			t.Fatal("a cancelled probe published readiness")
		}
		if n := len(d.dialled()); n != dialled {
			t.Errorf("dialled %d times after the cancel", n-dialled)
		}
		if st := f.p.Status(); st[0].Probing {
			t.Error("still probing")
		}
	})
}

func TestReleaseProbeSkipped(t *testing.T) {
	d := &fakeDial{result: func(int, string) error { return errRefused }}
	tests := []struct {
		name    string
		probing bool // EndpointSlices listed
		ports   []discoveryv1.EndpointPort
	}{
		{name: "transition during the initial listing", ports: []discoveryPort{port("http", 8080)}},
		{name: "no port to connect to", probing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{ReleaseProbe: ProbeTCP, Dial: d.dial})
			f.p.putObject(scaledObject("ns", "a", 0, routingMD("a.example.com", "svc")))
			f.listed(tt.probing)
			f.p.putSlice(endpointSlice("ns", "svc-1", "svc", tt.ports, ep("10.0.0.1", nil)))
			if ready, _ := f.p.Ready("ns/a"); !ready {
				t.Error("not reported ready at once")
			}
		})
	}
	if n := len(d.dialled()); n != 0 {
		t.Errorf("dialled %d times", n)
	}
}
