package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// fakeNodeSelector is the annotation that hands a node to kwok.
const fakeNodeSelector = "kwok.x-k8s.io/node=fake"

// probeInterval is how often a starting process's health endpoint is polled; there is no event
// to wait on before a process listens.
const probeInterval = 50 * time.Millisecond

// httpProbe is a health endpoint answering 200 once a component is ready; tls, when set,
// supplies the CA and client certificate to present.
type httpProbe struct {
	url string
	tls *rest.Config
}

// waitHTTPReady polls probe until it answers 200, p exits, or ctx ends.
func waitHTTPReady(ctx context.Context, p *process, probe httpProbe) error {
	client := &http.Client{Timeout: 2 * time.Second}
	if probe.tls != nil {
		tlsCfg, err := rest.TLSConfigFor(probe.tls)
		if err != nil {
			return fmt.Errorf("tls config for %s: %w", probe.url, err)
		}
		client.Transport = &http.Transport{TLSClientConfig: tlsCfg}
		defer client.CloseIdleConnections()
	}
	ticker := time.NewTicker(probeInterval)
	defer ticker.Stop()
	for {
		if ok := probeOnce(ctx, client, probe.url); ok {
			return nil
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w; end of its log:\n%s", p.spec.name, probe.url, ctx.Err(), p.tail(20))
		case <-ticker.C:
		}
	}
}

func probeOnce(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitWorkloadReady registers the fake node and waits, by watching, until it is Ready and the
// default ServiceAccount exists (pods are rejected before it does). It fails early when any
// component exits.
func (c *Cluster) waitWorkloadReady(ctx context.Context) error {
	ctx, cancel := c.cancelOnExit(ctx)
	defer cancel(nil)
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, fakeNode(c.opts.NodeName), metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		return withCause(ctx, fmt.Errorf("create fake node %s: %w", c.opts.NodeName, err))
	}
	nodes := listWatch(cs.CoreV1().RESTClient(), "nodes", "", c.opts.NodeName)
	if err := until(ctx, nodes, &corev1.Node{}, nodeReady); err != nil {
		return withCause(ctx, fmt.Errorf("fake node %s Ready: %w", c.opts.NodeName, err))
	}
	sas := listWatch(cs.CoreV1().RESTClient(), "serviceaccounts", metav1.NamespaceDefault, "default")
	if err := until(ctx, sas, &corev1.ServiceAccount{}, exists); err != nil {
		return withCause(ctx, fmt.Errorf("default ServiceAccount: %w", err))
	}
	return nil
}

// cancelOnExit returns a context that is cancelled, with the exit as its cause, as soon as any
// component started so far exits. Calling cancel releases the watching goroutines.
func (c *Cluster) cancelOnExit(parent context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if !p.running() {
			continue
		}
		go func() {
			select {
			case <-p.done:
				cancel(p.exitError())
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// withCause prefers the reason ctx was cancelled (a component exiting) over err.
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) &&
		!errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}
	return err
}

// listWatch lists and watches the resource object called name in namespace.
func listWatch(c cache.Getter, resource, namespace, name string) *cache.ListWatch {
	return cache.NewListWatchFromClient(c, resource, namespace, fields.OneTermEqualSelector("metadata.name", name))
}

// until waits, by listing and then watching lw, until cond holds for an event.
func until(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, cond watchtools.ConditionFunc) error {
	_, err := watchtools.UntilWithSync(ctx, lw, obj, nil, cond)
	return err
}

func exists(ev watch.Event) (bool, error) {
	return ev.Type == watch.Added || ev.Type == watch.Modified, nil
}

func nodeReady(ev watch.Event) (bool, error) {
	node, ok := ev.Object.(*corev1.Node)
	if !ok || ev.Type == watch.Deleted {
		return false, nil
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

// fakeNode is the node kwok plays the kubelet for.
func fakeNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(32, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(256<<30, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}
