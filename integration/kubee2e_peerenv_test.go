package integration

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/wakegate/wakegate/integration/harness"
)

// peerAddr is the address the slice lists r at.
func (r *peerReplica) peerAddr() string { return fmt.Sprintf("%s:%d", r.podIP, peerPort) }

// other is whichever of a and b r is not.
func (r *peerReplica) other(a, b *peerReplica) *peerReplica {
	if r == a {
		return b
	}
	return a
}

func (r *peerReplica) start(t *testing.T, o kubeWakegateOptions) {
	t.Helper()
	r.wg = startKubeWakegate(t, o)
	conn, err := grpc.NewClient(r.wg.Ports.Scaler, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r.scaler = pb.NewExternalScalerClient(conn)
}

// awaitReady waits until r's /readyz answers 200 (informers and peer discovery synced) and
// r lists target.
func (r *peerReplica) awaitReady(t *testing.T, target string) {
	t.Helper()
	awaitListed(t, r.wg, target, true)
	err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
		code, body, err := adminGet(t.Context(), r.wg, "/readyz")
		return err == nil && code == http.StatusOK, &readyzErr{code, body, err}
	})
	if err != nil {
		t.Fatalf("%s /readyz: %v", r.id, err)
	}
}

// createPeerService creates the headless Service wakegate-peers without a selector, so
// only the test's own EndpointSlice lists its endpoints.
func (e *kubeEnv) createPeerService(t *testing.T, ns string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: peerService},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{
			{Name: peerPortName, Port: peerPort, TargetPort: intstr.FromString(peerPortName)},
		}},
	}
	if _, err := e.cs.CoreV1().Services(ns).Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Service %s/%s: %v", ns, peerService, err)
	}
}

// putPeerSlice creates (or updates) the peer Service's EndpointSlice with one ready
// endpoint per replica, its targetRef naming the replica's pod.
func (e *kubeEnv) putPeerSlice(t *testing.T, ns string, create bool, rs ...*peerReplica) {
	t.Helper()
	ready, name, port := true, peerPortName, int32(peerPort)
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: peerSlice, Labels: map[string]string{discoveryv1.LabelServiceName: peerService}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	for _, r := range rs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{r.podIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: r.id}})
	}
	slices := e.cs.DiscoveryV1().EndpointSlices(ns)
	var err error
	if create {
		_, err = slices.Create(t.Context(), s, metav1.CreateOptions{})
	} else {
		_, err = slices.Update(t.Context(), s, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("put EndpointSlice %s/%s: %v", ns, peerSlice, err)
	}
}

// concurrencyOf asks r's scaler, with KEDA's generated client, for the requests in flight
// of ScaledObject ns/web (held ones included), over the replicas r knows of.
func concurrencyOf(t testing.TB, r *peerReplica, ns string) float64 {
	t.Helper()
	v, err := tryConcurrency(t.Context(), r, ns)
	if err != nil {
		t.Fatalf("%s GetMetrics: %v", r.id, err)
	}
	return v
}

func tryConcurrency(ctx context.Context, r *peerReplica, ns string) (float64, error) {
	resp, err := r.scaler.GetMetrics(ctx, &pb.GetMetricsRequest{MetricName: "s0-wakegate-concurrency",
		ScaledObjectRef: &pb.ScaledObjectRef{Namespace: ns, Name: "web", ScalerMetadata: map[string]string{"metric": "concurrency"}}})
	if err != nil {
		return 0, err
	}
	if len(resp.GetMetricValues()) != 1 {
		return 0, fmt.Errorf("%d metric values, want 1", len(resp.GetMetricValues()))
	}
	return resp.GetMetricValues()[0].GetMetricValueFloat(), nil
}

// awaitConcurrency polls r's GetMetrics until it reports want.
func awaitConcurrency(t testing.TB, r *peerReplica, ns string, want float64, what string) {
	t.Helper()
	err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
		v, err := tryConcurrency(t.Context(), r, ns)
		if err != nil {
			return false, err
		}
		return v == want, fmt.Errorf("concurrency %v", v)
	})
	if err != nil {
		t.Fatalf("%s: waiting for %s/web concurrency %v on %s: %v", what, ns, want, r.id, err)
	}
}

// metricOf returns one of r's metrics (see harness.Metrics.Value).
func metricOf(t testing.TB, r *peerReplica, name string, labels ...string) float64 {
	t.Helper()
	m, err := r.wg.Metrics(t.Context())
	if err != nil {
		t.Fatalf("%s /metrics: %v", r.id, err)
	}
	return m.Value(name, labels...)
}

// awaitMetric polls r's /metrics until the metric equals want.
func awaitMetric(t testing.TB, r *peerReplica, what, name string, want float64, labels ...string) {
	t.Helper()
	err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
		m, err := r.wg.Metrics(t.Context())
		if err != nil {
			return false, err
		}
		v := m.Value(name, labels...)
		return v == want, fmt.Errorf("%s %v", name, v)
	})
	if err != nil {
		t.Fatalf("%s: waiting for %s %v %v on %s: %v", what, name, labels, want, r.id, err)
	}
}
