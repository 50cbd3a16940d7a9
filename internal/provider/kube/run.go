package kube

import (
	"context"
	"errors"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	kedainformers "github.com/kedacore/keda/v2/pkg/generated/informers/externalversions"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Run watches ScaledObjects and EndpointSlices (of Services, by the
// kubernetes.io/service-name label) in the configured namespaces until ctx is done. Once
// both are listed it builds the first target set and Synced turns true; from then on
// every change is pushed as it arrives. When ctx ends, Run stops the informers, the Event
// recorder it started (if any) and the release probes, waits for them, and returns nil.
// A second call returns an error at once.
func (p *Provider) Run(ctx context.Context) error {
	if !p.ran.CompareAndSwap(false, true) {
		return errors.New("kube provider: Run called twice")
	}
	defer p.shutdown()
	if p.rec == nil {
		stop := p.startRecorder()
		defer stop()
	}
	inf, err := p.startInformers(ctx)
	if err != nil {
		return err
	}
	defer inf.shutdown()
	p.log.Info("waiting for the informers to list", "namespaces", p.opts.Namespaces)
	if !cache.WaitForCacheSync(ctx.Done(), inf.slices...) {
		return nil // ctx ended first
	}
	p.mu.Lock()
	p.probing = true
	p.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), inf.objects...) {
		return nil
	}
	p.markListed()
	close(p.synced)
	p.log.Info("informers synced", "targets", len(*p.targets.Load()))
	<-ctx.Done()
	return nil
}

// startRecorder records Events as core/v1 Events through Kube until the returned stop.
func (p *Provider) startRecorder() (stop func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: p.opts.Kube.CoreV1().Events("")})
	p.rec = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: fieldManager})
	return b.Shutdown
}

// informerSet is the running informers and the HasSynced of their handlers.
type informerSet struct {
	factories []interface{ Shutdown() }
	objects   []cache.InformerSynced
	slices    []cache.InformerSynced
}

// shutdown stops every informer and waits for their goroutines (handlers included).
func (s *informerSet) shutdown() {
	for _, f := range s.factories {
		f.Shutdown()
	}
}

// startInformers creates one ScaledObject and one EndpointSlice informer per namespace
// ("" being all), registers the provider's handlers and starts them.
func (p *Provider) startInformers(ctx context.Context) (*informerSet, error) {
	s := &informerSet{}
	for _, ns := range p.opts.Namespaces {
		kf := kedainformers.NewSharedInformerFactoryWithOptions(p.opts.KEDA, 0, kedainformers.WithNamespace(ns))
		so := kf.Keda().V1alpha1().ScaledObjects().Informer()
		ef := informers.NewSharedInformerFactoryWithOptions(p.opts.Kube, 0, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName }))
		es := ef.Discovery().V1().EndpointSlices().Informer()
		s.factories = append(s.factories, kf, ef)
		if err := errors.Join(so.SetTransform(stripManagedFields), es.SetTransform(stripManagedFields)); err != nil {
			s.shutdown()
			return nil, err
		}
		soReg, err := so.AddEventHandler(p.objectHandler())
		if err != nil {
			s.shutdown()
			return nil, err
		}
		esReg, err := es.AddEventHandler(p.sliceHandler())
		if err != nil {
			s.shutdown()
			return nil, err
		}
		s.objects = append(s.objects, soReg.HasSynced)
		s.slices = append(s.slices, esReg.HasSynced)
		kf.Start(ctx.Done())
		ef.Start(ctx.Done())
	}
	return s, nil
}

// stripManagedFields drops managedFields before objects enter the informer caches.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

func (p *Provider) objectHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if so, ok := obj.(*kedav1alpha1.ScaledObject); ok {
				p.putObject(so)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, _ := oldObj.(*kedav1alpha1.ScaledObject)
			so, ok := newObj.(*kedav1alpha1.ScaledObject)
			if ok && (old == nil || !sameForTargets(old, so)) {
				p.putObject(so)
			}
		},
		DeleteFunc: func(obj any) {
			if so, ok := deleted[*kedav1alpha1.ScaledObject](obj); ok {
				p.deleteObject(so)
			}
		},
	}
}

func (p *Provider) sliceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
				p.putSlice(s)
			}
		},
		UpdateFunc: func(_, obj any) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
				p.putSlice(s)
			}
		},
		DeleteFunc: func(obj any) {
			if s, ok := deleted[*discoveryv1.EndpointSlice](obj); ok {
				p.deleteSlice(s)
			}
		},
	}
}

// deleted unwraps the object of a delete event, which may be a tombstone when the watch
// missed the deletion.
func deleted[T any](obj any) (T, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	v, ok := obj.(T)
	return v, ok
}
