package kube

import (
	"context"
	"fmt"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wakeTimeout bounds the API calls of one direct wake.
const wakeTimeout = 10 * time.Second

// fieldManager names wakegate in the managed fields of what it writes.
const fieldManager = "wakegate"

// scaleClient is the scale subresource of one workload kind; the typed Deployment and
// StatefulSet clients of client-go implement it.
type scaleClient interface {
	GetScale(ctx context.Context, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error)
	UpdateScale(ctx context.Context, name string, scale *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error)
}

// Wake is a no-op for a configured target unless Options.DirectWake is set: the wake then
// happens through KEDA, which the scaler pushes as soon as a request is held.
//
// With DirectWake, Wake reads the ScaledObject's scaleTargetRef (default apps/v1
// Deployment; StatefulSet is supported too) and, if its scale subresource says 0 replicas,
// updates it to 1 with the resourceVersion it read. Any other count is left alone: KEDA
// owns replica counts, a direct wake only lifts 0 → 1. A conflict means someone else
// changed the count first, which is fine. A ScaledObject paused by annotation is not
// woken (an error says so). Wakes of one target are serialised. Wake fails for an unknown
// target (ErrUnknownTarget) and for unsupported scale targets.
func (p *Provider) Wake(ctx context.Context, name string) error {
	t := p.lookup(name)
	if t == nil {
		return fmt.Errorf("kube provider: wake %q: %w", name, ErrUnknownTarget)
	}
	if !p.opts.DirectWake {
		return nil
	}
	p.mu.Lock()
	so := t.so
	p.mu.Unlock()
	if so.NeedToBePausedByAnnotation() {
		return fmt.Errorf("kube provider: wake %q: the ScaledObject is paused by annotation; not scaling it", name)
	}
	sc, workload, err := p.scaleClientFor(so)
	if err != nil {
		return fmt.Errorf("kube provider: wake %q: %w", name, err)
	}
	t.wakeMu.Lock()
	defer t.wakeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, wakeTimeout)
	defer cancel()
	if err := p.liftFromZero(ctx, sc, so.Spec.ScaleTargetRef.Name); err != nil {
		return fmt.Errorf("kube provider: wake %q: %s: %w", name, workload, err)
	}
	return nil
}

// scaleClientFor returns the scale client of so's scale target and a description of it.
func (p *Provider) scaleClientFor(so *kedav1alpha1.ScaledObject) (scaleClient, string, error) {
	ref := so.Spec.ScaleTargetRef
	if ref == nil || ref.Name == "" {
		return nil, "", fmt.Errorf("the ScaledObject has no scaleTargetRef name")
	}
	apiVersion, kind := ref.APIVersion, ref.Kind
	if apiVersion == "" {
		apiVersion = "apps/v1"
	}
	if kind == "" {
		kind = "Deployment"
	}
	workload := fmt.Sprintf("%s %s/%s", kind, so.Namespace, ref.Name)
	switch {
	case apiVersion == "apps/v1" && kind == "Deployment":
		return p.opts.Kube.AppsV1().Deployments(so.Namespace), workload, nil
	case apiVersion == "apps/v1" && kind == "StatefulSet":
		return p.opts.Kube.AppsV1().StatefulSets(so.Namespace), workload, nil
	}
	return nil, "", fmt.Errorf("scaleTargetRef %s %s %q: direct wake supports apps/v1 Deployment and StatefulSet only", apiVersion, kind, ref.Name)
}

// liftFromZero sets the replicas of the named workload to 1 if, and only if, it is 0.
func (p *Provider) liftFromZero(ctx context.Context, sc scaleClient, name string) error {
	s, err := sc.GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get scale: %w", err)
	}
	if s.Spec.Replicas != 0 {
		return nil
	}
	s.Spec.Replicas = 1 // s carries the resourceVersion read: the update is conditional on it
	_, err = sc.UpdateScale(ctx, name, s, metav1.UpdateOptions{FieldManager: fieldManager})
	switch {
	case apierrors.IsConflict(err):
		p.log.Debug("scale changed concurrently; leaving it", "namespace", s.Namespace, "name", name)
		return nil
	case err != nil:
		return fmt.Errorf("update scale from 0 to 1: %w", err)
	}
	p.log.Info("scaled from zero", "namespace", s.Namespace, "name", name, "replicas", 1)
	return nil
}
