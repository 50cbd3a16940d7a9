package kube

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ktesting "k8s.io/client-go/testing"
)

// fakeScale is the scale subresource of one workload, served through fake clientset
// reactors with optimistic concurrency like the API server: an update must carry the
// current resourceVersion.
type fakeScale struct {
	resource string // "deployments" or "statefulsets"
	name     string

	mu       sync.Mutex
	replicas int32
	version  int
	updates  int    // successful updates
	racer    bool   // someone else changes the scale right after each get
	fail     error  // returned by every get
	seen     string // last field manager used
}

func (s *fakeScale) install(f *ktesting.Fake) {
	f.PrependReactor("get", s.resource, func(a ktesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" || a.(ktesting.GetAction).GetName() != s.name {
			return false, nil, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail != nil {
			return true, nil, s.fail
		}
		out := s.scaleLocked(a.GetNamespace())
		if s.racer {
			s.replicas, s.version = 3, s.version+1
		}
		return true, out, nil
	})
	f.PrependReactor("update", s.resource, func(a ktesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		in := a.(ktesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
		s.mu.Lock()
		defer s.mu.Unlock()
		if in.ResourceVersion != strconv.Itoa(s.version) {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: s.resource}, s.name, errors.New("the object has been modified"))
		}
		s.replicas, s.version, s.updates = in.Spec.Replicas, s.version+1, s.updates+1
		s.seen = a.(ktesting.UpdateActionImpl).UpdateOptions.FieldManager
		return true, s.scaleLocked(a.GetNamespace()), nil
	})
}

func (s *fakeScale) scaleLocked(ns string) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.name, ResourceVersion: strconv.Itoa(s.version)},
		Spec: autoscalingv1.ScaleSpec{Replicas: s.replicas}}
}

func (s *fakeScale) state() (replicas int32, updates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replicas, s.updates
}

// wakeFixture is a fixture with target "ns/app" whose scaleTargetRef is ref.
func wakeFixture(t *testing.T, direct bool, ref kedav1alpha1.ScaleTarget, annotations map[string]string) *fixture {
	t.Helper()
	f := newFixture(t, Options{DirectWake: direct})
	so := scaledObject("ns", "app", 0, routingMD("app.example.com", "app"))
	so.Spec.ScaleTargetRef = &ref
	so.Annotations = annotations
	f.p.putObject(so)
	f.listed(false)
	<-f.targets.ch
	return f
}

func TestDirectWake(t *testing.T) {
	tests := []struct {
		name         string
		ref          kedav1alpha1.ScaleTarget
		resource     string
		replicas     int32
		racer        bool
		wantReplicas int32
		wantUpdates  int
	}{
		{name: "deployment at zero", ref: kedav1alpha1.ScaleTarget{Name: "web"}, resource: "deployments", wantReplicas: 1, wantUpdates: 1},
		{name: "explicit deployment", ref: kedav1alpha1.ScaleTarget{Name: "web", APIVersion: "apps/v1", Kind: "Deployment"}, resource: "deployments", wantReplicas: 1, wantUpdates: 1},
		{name: "deployment at two is left alone", ref: kedav1alpha1.ScaleTarget{Name: "web"}, resource: "deployments", replicas: 2, wantReplicas: 2},
		{name: "statefulset at zero", ref: kedav1alpha1.ScaleTarget{Name: "db", Kind: "StatefulSet"}, resource: "statefulsets", wantReplicas: 1, wantUpdates: 1},
		{name: "conflict: someone else scaled", ref: kedav1alpha1.ScaleTarget{Name: "web"}, resource: "deployments", racer: true, wantReplicas: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := wakeFixture(t, true, tt.ref, nil)
			s := &fakeScale{resource: tt.resource, name: tt.ref.Name, replicas: tt.replicas, version: 7, racer: tt.racer}
			s.install(&f.kube.Fake)
			if err := f.p.Wake(t.Context(), "ns/app"); err != nil {
				t.Fatalf("Wake: %v", err)
			}
			replicas, updates := s.state()
			if replicas != tt.wantReplicas || updates != tt.wantUpdates {
				t.Errorf("replicas %d after %d updates, want %d after %d", replicas, updates, tt.wantReplicas, tt.wantUpdates)
			}
			if updates > 0 && s.seen != fieldManager {
				t.Errorf("field manager %q, want %q", s.seen, fieldManager)
			}
		})
	}
}

func TestDirectWakeConcurrent(t *testing.T) {
	f := wakeFixture(t, true, kedav1alpha1.ScaleTarget{Name: "web"}, nil)
	s := &fakeScale{resource: "deployments", name: "web"}
	s.install(&f.kube.Fake)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- f.p.Wake(t.Context(), "ns/app") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Wake: %v", err)
		}
	}
	if replicas, updates := s.state(); replicas != 1 || updates != 1 {
		t.Errorf("replicas %d after %d updates, want 1 after exactly 1", replicas, updates)
	}
}

func TestWakeErrors(t *testing.T) {
	tests := []struct {
		name        string
		direct      bool
		ref         kedav1alpha1.ScaleTarget
		annotations map[string]string
		target      string
		getErr      error
		want        string // "" means success
	}{
		{name: "unknown target", direct: true, ref: kedav1alpha1.ScaleTarget{Name: "web"}, target: "ns/nope", want: "unknown target"},
		{name: "unknown target without direct wake", ref: kedav1alpha1.ScaleTarget{Name: "web"}, target: "ns/nope", want: "unknown target"},
		{name: "without direct wake nothing is called", ref: kedav1alpha1.ScaleTarget{Name: "web", Kind: "Rollout"}, target: "ns/app"},
		{name: "unsupported kind", direct: true, ref: kedav1alpha1.ScaleTarget{Name: "web", APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout"},
			target: "ns/app", want: `argoproj.io/v1alpha1 Rollout "web": direct wake supports apps/v1 Deployment and StatefulSet only`},
		{name: "unsupported apiVersion", direct: true, ref: kedav1alpha1.ScaleTarget{Name: "web", APIVersion: "apps/v1beta1"},
			target: "ns/app", want: "direct wake supports"},
		{name: "paused", direct: true, ref: kedav1alpha1.ScaleTarget{Name: "web"}, annotations: map[string]string{kedav1alpha1.PausedReplicasAnnotation: "0"},
			target: "ns/app", want: "paused"},
		{name: "get fails", direct: true, ref: kedav1alpha1.ScaleTarget{Name: "web"}, target: "ns/app",
			getErr: apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments/scale"}, "web", errors.New("RBAC")),
			want:   `wake "ns/app": Deployment ns/web: get scale`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := wakeFixture(t, tt.direct, tt.ref, tt.annotations)
			s := &fakeScale{resource: "deployments", name: "web", fail: tt.getErr}
			s.install(&f.kube.Fake)
			f.kube.ClearActions()
			err := f.p.Wake(t.Context(), tt.target)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Wake: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Wake error %v, want one containing %q", err, tt.want)
			}
			if tt.getErr == nil && len(f.kube.Actions()) != 0 {
				t.Errorf("API calls made: %v", f.kube.Actions())
			}
			if strings.Contains(tt.want, "unknown target") && !errors.Is(err, ErrUnknownTarget) {
				t.Errorf("error %v is not ErrUnknownTarget", err)
			}
		})
	}
}

// TestDirectWakeReplicas: two wakegate replicas waking the same Deployment at once lift it
// to 1 exactly once; the loser's update conflicts (or it reads 1) and it succeeds quietly.
func TestDirectWakeReplicas(t *testing.T) {
	s := &fakeScale{resource: "deployments", name: "web"}
	var fs []*fixture
	for range 2 {
		f := wakeFixture(t, true, kedav1alpha1.ScaleTarget{Name: "web"}, nil)
		s.install(&f.kube.Fake)
		fs = append(fs, f)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() { errs <- fs[i%2].p.Wake(t.Context(), "ns/app") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Wake: %v", err)
		}
	}
	if replicas, updates := s.state(); replicas != 1 || updates != 1 {
		t.Errorf("replicas %d after %d updates, want 1 after exactly 1", replicas, updates)
	}
}
