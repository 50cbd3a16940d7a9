package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestViewOf(t *testing.T) {
	udp := discoveryv1.EndpointPort{Name: ptr("dns"), Port: ptr(int32(53)), Protocol: ptr(corev1.ProtocolUDP)}
	tests := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		port   string
		want   endpointsView
	}{
		{name: "no slices"},
		{name: "ready unset counts as ready",
			slices: []*discoveryv1.EndpointSlice{endpointSlice("ns", "s1", "svc", []discoveryPort{port("http", 8080)}, ep("10.0.0.1", nil))},
			want:   endpointsView{ready: true, count: 1, addrs: []string{"10.0.0.1:8080"}}},
		{name: "not ready endpoints",
			slices: []*discoveryv1.EndpointSlice{endpointSlice("ns", "s1", "svc", []discoveryPort{port("http", 8080)}, ep("10.0.0.1", ptr(false)))}},
		{name: "endpoint without address",
			slices: []*discoveryv1.EndpointSlice{endpointSlice("ns", "s1", "svc", []discoveryPort{port("http", 8080)}, discoveryv1.Endpoint{})}},
		{name: "port by name",
			slices: []*discoveryv1.EndpointSlice{endpointSlice("ns", "s1", "svc", []discoveryPort{port("metrics", 9090), port("http", 8080)}, ep("10.0.0.1", ptr(true)))},
			port:   "http",
			want:   endpointsView{ready: true, count: 1, addrs: []string{"10.0.0.1:8080"}}},
		{name: "port by number",
			slices: []*discoveryv1.EndpointSlice{endpointSlice("ns", "s1", "svc", []discoveryPort{port("metrics", 9090), port("http", 8080)}, ep("10.0.0.1", ptr(true)))},
			port:   "9090",
			want:   endpointsView{ready: true, count: 1, addrs: []string{"10.0.0.1:9090"}}},
		{name: "port missing",
			slices: []*discoveryv1.EndpointSlice{endpointSlice("ns", "s1", "svc", []discoveryPort{port("metrics", 9090)}, ep("10.0.0.1", ptr(true)))},
			port:   "http"},
		{name: "udp port does not count",
			slices: []*discoveryv1.EndpointSlice{endpointSlice("ns", "s1", "svc", []discoveryPort{udp}, ep("10.0.0.1", ptr(true)))},
			port:   "dns"},
		{name: "no ports: ready, nothing to probe",
			slices: []*discoveryv1.EndpointSlice{endpointSlice("ns", "s1", "svc", nil, ep("10.0.0.1", nil))},
			want:   endpointsView{ready: true, count: 1}},
		{name: "two slices, one with the port",
			slices: []*discoveryv1.EndpointSlice{
				endpointSlice("ns", "s1", "svc", []discoveryPort{port("other", 1)}, ep("10.0.0.1", ptr(true))),
				endpointSlice("ns", "s2", "svc", []discoveryPort{port("http", 80)}, ep("fd00::2", ptr(true)), ep("10.0.0.3", nil), ep("10.0.0.4", ptr(false))),
			},
			port: "http",
			want: endpointsView{ready: true, count: 2, addrs: []string{"10.0.0.3:80", "[fd00::2]:80"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]*discoveryv1.EndpointSlice{}
			for _, s := range tt.slices {
				m[s.Name] = s
			}
			got := viewOf(m, tt.port)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(endpointsView{})); diff != "" {
				t.Errorf("viewOf (-want +got):\n%s", diff)
			}
		})
	}
}

// readyFixture is a fixture with one target "ns/a" for Service "svc", listed.
func readyFixture(t *testing.T, opts Options, md ...string) *fixture {
	t.Helper()
	f := newFixture(t, opts)
	f.p.putObject(scaledObject("ns", "a", 0, routingMD("a.example.com", "svc", md...)))
	f.listed(opts.ReleaseProbe == ProbeTCP)
	<-f.targets.ch
	return f
}

func TestReadinessTransitions(t *testing.T) {
	f := readyFixture(t, Options{}, KeyPort, "http")
	ready, changed := f.p.Ready("ns/a")
	if ready {
		t.Fatal("ready without endpoints")
	}

	// A slice of another Service, or without the port, changes nothing.
	f.p.putSlice(endpointSlice("ns", "other-1", "other", []discoveryPort{port("http", 80)}, ep("10.0.0.9", nil)))
	f.p.putSlice(endpointSlice("ns", "svc-1", "svc", []discoveryPort{port("admin", 81)}, ep("10.0.0.1", nil)))
	f.p.putSlice(endpointSlice("other-ns", "svc-1", "svc", []discoveryPort{port("http", 80)}, ep("10.0.0.8", nil)))
	if isClosed(changed) {
		t.Fatal("channel closed by slices that do not serve the target")
	}

	// The slice gains the port: ready.
	f.p.putSlice(endpointSlice("ns", "svc-1", "svc", []discoveryPort{port("http", 80)}, ep("10.0.0.1", nil)))
	if !isClosed(changed) {
		t.Fatal("channel not closed when the target became ready")
	}
	ready, changed = f.p.Ready("ns/a")
	if !ready {
		t.Fatal("not ready")
	}

	// A second slice comes and goes; the first keeps the target ready.
	f.p.putSlice(endpointSlice("ns", "svc-2", "svc", []discoveryPort{port("http", 80)}, ep("10.0.0.2", nil)))
	f.p.deleteSlice(endpointSlice("ns", "svc-2", "svc", nil))
	if isClosed(changed) {
		t.Fatal("channel closed although readiness did not change")
	}

	// Its endpoint turns not ready: not ready.
	f.p.putSlice(endpointSlice("ns", "svc-1", "svc", []discoveryPort{port("http", 80)}, ep("10.0.0.1", ptr(false))))
	if !isClosed(changed) {
		t.Fatal("channel not closed when the endpoint turned not ready")
	}
	if ready, changed = f.p.Ready("ns/a"); ready {
		t.Fatal("still ready")
	}

	// Ready again, then the slice is deleted.
	f.p.putSlice(endpointSlice("ns", "svc-1", "svc", []discoveryPort{port("http", 80)}, ep("10.0.0.1", ptr(true))))
	if ready, changed = f.p.Ready("ns/a"); !ready {
		t.Fatal("not ready again")
	}
	f.p.deleteSlice(endpointSlice("ns", "svc-1", "svc", nil))
	if !isClosed(changed) {
		t.Fatal("channel not closed when the slice was deleted")
	}
	if ready, _ = f.p.Ready("ns/a"); ready {
		t.Fatal("ready after the slice was deleted")
	}
}

func TestSliceChangingService(t *testing.T) {
	f := readyFixture(t, Options{})
	f.p.putSlice(endpointSlice("ns", "s-1", "svc", nil, ep("10.0.0.1", nil)))
	if ready, _ := f.p.Ready("ns/a"); !ready {
		t.Fatal("not ready")
	}
	f.p.putSlice(endpointSlice("ns", "s-1", "elsewhere", nil, ep("10.0.0.1", nil)))
	if ready, _ := f.p.Ready("ns/a"); ready {
		t.Error("ready after its only slice moved to another Service")
	}
	f.p.putSlice(endpointSlice("ns", "s-1", "svc", nil, ep("10.0.0.1", nil)))
	f.p.putSlice(endpointSlice("ns", "s-1", "", nil, ep("10.0.0.1", nil)))
	if ready, _ := f.p.Ready("ns/a"); ready {
		t.Error("ready after its only slice lost the service label")
	}
}

func TestTargetServiceChange(t *testing.T) {
	f := readyFixture(t, Options{})
	f.p.putSlice(endpointSlice("ns", "new-1", "new", nil, ep("10.0.0.1", nil)))
	ready, changed := f.p.Ready("ns/a")
	if ready {
		t.Fatal("ready from another Service's slice")
	}
	f.p.putObject(scaledObject("ns", "a", 0, routingMD("a.example.com", "new")))
	if !isClosed(changed) {
		t.Fatal("channel not closed when the target's Service changed to a ready one")
	}
	if ready, _ := f.p.Ready("ns/a"); !ready {
		t.Error("not ready after switching to a Service with a ready endpoint")
	}
}

func TestUnknownTargetNotReady(t *testing.T) {
	f := readyFixture(t, Options{})
	ready, ch := f.p.Ready("ns/nope")
	if ready || ch == nil || isClosed(ch) {
		t.Errorf("Ready(unknown) = %v, %v; want false and an open channel", ready, ch)
	}
}
