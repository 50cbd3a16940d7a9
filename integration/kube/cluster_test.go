package kube_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/wakegate/wakegate/integration/kube"
)

// kwokPods is the range kwok gives pod IPs out of (see tools/k8s and components.go).
var kwokPods = netip.MustParsePrefix("10.244.0.0/16")

// TestScaleFromZeroReadiesEndpointSlice scales a Deployment 0 → 1 through the scale subresource
// and watches kwok make the pod Ready and the EndpointSlice controller publish a ready endpoint.
func TestScaleFromZeroReadiesEndpointSlice(t *testing.T) {
	kube.SkipIfUnavailable(t)
	c := kube.Start(t, kube.Options{})
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	ns := metav1.NamespaceDefault
	createWeb(ctx, t, cs, ns)

	podReady, sliceReady := newSignal[*corev1.Pod](), newSignal[*discoveryv1.EndpointSlice]()
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	onChange(t, factory.Core().V1().Pods().Informer(), func(p *corev1.Pod) {
		if p.Labels["app"] == "web" && isPodReady(p) {
			podReady.fire(p)
		}
	})
	onChange(t, factory.Discovery().V1().EndpointSlices().Informer(), func(s *discoveryv1.EndpointSlice) {
		if s.Labels[discoveryv1.LabelServiceName] == "web" && readyEndpoints(s) > 0 {
			sliceReady.fire(s)
		}
	})
	stopInformers := make(chan struct{})
	factory.Start(stopInformers)
	defer func() { close(stopInformers); factory.Shutdown() }()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}

	// No resourceVersion: an unconditional update, so that the Deployment controller writing
	// the status meanwhile cannot make it conflict.
	scale := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec:       autoscalingv1.ScaleSpec{Replicas: 1},
	}
	scaled := time.Now()
	if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	pod, podAt := podReady.wait(ctx, t, "web pod Ready")
	slice, sliceAt := sliceReady.wait(ctx, t, "ready endpoint in the web EndpointSlice")
	t.Logf("scale 0→1: pod Ready after %v, EndpointSlice ready endpoint after %v",
		podAt.Sub(scaled).Round(time.Millisecond), sliceAt.Sub(scaled).Round(time.Millisecond))

	if pod.Spec.NodeName != "kwok-node-0" {
		t.Errorf("pod %s scheduled to %q, want the fake node kwok-node-0", pod.Name, pod.Spec.NodeName)
	}
	addr, err := netip.ParseAddr(slice.Endpoints[0].Addresses[0])
	if err != nil || !kwokPods.Contains(addr) {
		t.Errorf("endpoint address %q (%v) is not a kwok pod address in %v", slice.Endpoints[0].Addresses[0], err, kwokPods)
	}
	logMemory(t, c)
	stopAndCheckLeftovers(t, c)
}

// createWeb creates Service web (selector app=web) and Deployment web with zero replicas.
func createWeb(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	labels := map[string]string{"app": "web"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	zero := int32(0)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.invalid/web:1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
}

func isPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyEndpoints(s *discoveryv1.EndpointSlice) int {
	n := 0
	for _, ep := range s.Endpoints {
		if ep.Conditions.Ready != nil && *ep.Conditions.Ready && len(ep.Addresses) > 0 {
			n++
		}
	}
	return n
}

// signal records the first value fired and when; later fires are ignored.
type signal[T any] struct {
	once sync.Once
	ch   chan struct{}
	val  T
	at   time.Time
}

func newSignal[T any]() *signal[T] { return &signal[T]{ch: make(chan struct{})} }

func (s *signal[T]) fire(v T) {
	s.once.Do(func() {
		s.val, s.at = v, time.Now()
		close(s.ch)
	})
}

func (s *signal[T]) wait(ctx context.Context, t *testing.T, what string) (T, time.Time) {
	t.Helper()
	select {
	case <-s.ch:
		return s.val, s.at
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
		var zero T
		return zero, time.Time{}
	}
}

// onChange calls f with every object informer adds or updates.
func onChange[T any](t *testing.T, informer cache.SharedIndexInformer, f func(T)) {
	t.Helper()
	call := func(obj any) {
		if v, ok := obj.(T); ok {
			f(v)
		}
	}
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    call,
		UpdateFunc: func(_, obj any) { call(obj) },
	})
	if err != nil {
		t.Fatalf("add event handler: %v", err)
	}
}
