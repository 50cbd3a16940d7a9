package kube_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/wakegate/wakegate/integration/kube"
)

// TestWatchRecoversAfterAPIServerRestart restarts kube-apiserver under a running informer: the
// raw watch in flight ends, and the informer re-establishes its watch and sees an object created
// after the restart.
func TestWatchRecoversAfterAPIServerRestart(t *testing.T) {
	kube.SkipIfUnavailable(t)
	c := kube.Start(t, kube.Options{})
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ns := metav1.NamespaceDefault

	added := map[string]*signal[*corev1.ConfigMap]{"before": newSignal[*corev1.ConfigMap](), "after": newSignal[*corev1.ConfigMap]()}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	onChange(t, factory.Core().V1().ConfigMaps().Informer(), func(cm *corev1.ConfigMap) {
		if s, ok := added[cm.Name]; ok {
			s.fire(cm)
		}
	})
	stopInformers := make(chan struct{})
	factory.Start(stopInformers)
	defer func() { close(stopInformers); factory.Shutdown() }()
	factory.WaitForCacheSync(ctx.Done())
	createConfigMap(ctx, t, cs, ns, "before")
	added["before"].wait(ctx, t, "informer to see ConfigMap before")

	raw, err := cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer raw.Stop()
	oldPID := c.PIDs()["kube-apiserver"]
	restarted := time.Now()
	if err := c.RestartAPIServer(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Logf("kube-apiserver restarted (pid %d → %d) in %v", oldPID, c.PIDs()["kube-apiserver"],
		time.Since(restarted).Round(time.Millisecond))
	if newPID := c.PIDs()["kube-apiserver"]; newPID == 0 || newPID == oldPID {
		t.Fatalf("kube-apiserver pid after restart = %d, want a new process (was %d)", newPID, oldPID)
	}
	drainUntilClosed(ctx, t, raw.ResultChan())

	createConfigMap(ctx, t, cs, ns, "after")
	_, at := added["after"].wait(ctx, t, "informer to see ConfigMap after the restart")
	t.Logf("informer saw the post-restart object %v after the restart began", at.Sub(restarted).Round(time.Millisecond))
}

// drainUntilClosed waits for the server to end a watch that was open across a restart.
func drainUntilClosed[T any](ctx context.Context, t *testing.T, ch <-chan T) {
	t.Helper()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-ctx.Done():
			t.Fatalf("watch opened before the restart is still open: %v", ctx.Err())
		}
	}
}

func createConfigMap(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create configmap %s: %v", name, err)
	}
}
