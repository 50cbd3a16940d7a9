package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/kedacore/keda/v2/pkg/generated/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/wakegate/wakegate/integration/harness"
	"github.com/wakegate/wakegate/integration/kube"
)

// kubeEnv is the loopback control plane the TestKube* tests share (KEDA's CRDs installed),
// with administrator clients. It is stopped when the test that started it ends.
type kubeEnv struct {
	c    *kube.Cluster
	cs   kubernetes.Interface
	keda versioned.Interface
}

// startKubeEnv starts the control plane for t, or skips t (fails it under CI=true) when
// the control-plane binaries or Envoy are missing.
func startKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	kube.SkipIfUnavailable(t)
	harness.EnvoyBin(t)
	binaries(t) // build wakegate before the clock of the control plane starts
	c := kube.Start(t, kube.Options{})
	began := time.Now()
	if err := c.InstallKEDACRDs(); err != nil {
		t.Fatal(err)
	}
	t.Logf("KEDA CRDs installed in %v", time.Since(began).Round(time.Millisecond))
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	kd, err := versioned.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &kubeEnv{c: c, cs: cs, keda: kd}
}

// webLabels select the pods of Deployment web, the workload every test scales.
var webLabels = map[string]string{"app": "web"}

// createNamespace creates ns and deletes it (without waiting) when t ends.
func (e *kubeEnv) createNamespace(t *testing.T, ns string) {
	t.Helper()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if _, err := e.cs.CoreV1().Namespaces().Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Logf("delete namespace %s: %v", ns, err)
		}
	})
}

// createWorkload creates Deployment web (0 replicas; kwok makes its pods Ready 300ms after
// they start) and Service web (port 80 named http → 8080) in ns.
func (e *kubeEnv) createWorkload(t *testing.T, ns string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: webLabels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	}
	if _, err := e.cs.CoreV1().Services(ns).Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Service %s/web: %v", ns, err)
	}
	zero := int32(0)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: webLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: webLabels,
					Annotations: map[string]string{"pod-ready.stage.kwok.x-k8s.io/delay": "300ms"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.invalid/web:1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
	if _, err := e.cs.AppsV1().Deployments(ns).Create(t.Context(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment %s/web: %v", ns, err)
	}
}

// scaledObject is ScaledObject name in ns scaling Deployment web 0..2 with one
// external-push trigger carrying md (wakegate's routing keys).
func scaledObject(ns, name string, md map[string]string) *kedav1alpha1.ScaledObject {
	zero, two := int32(0), int32(2)
	return &kedav1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kedav1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  &kedav1alpha1.ScaleTarget{Name: "web"},
			MinReplicaCount: &zero, MaxReplicaCount: &two,
			Triggers: []kedav1alpha1.ScaleTriggers{{Type: "external-push", Metadata: md}},
		},
	}
}

// webMetadata is the trigger metadata of ScaledObject web: Host web.test, Service web,
// port http, a 20s hold, wakegate's scaler at scalerAddr.
func webMetadata(scalerAddr string) map[string]string {
	return map[string]string{"scalerAddress": scalerAddr, "hosts": "web.test", "service": "web",
		"port": "http", "holdTimeout": "20s"}
}

func (e *kubeEnv) createScaledObject(t *testing.T, so *kedav1alpha1.ScaledObject) {
	t.Helper()
	if _, err := e.keda.KedaV1alpha1().ScaledObjects(so.Namespace).Create(t.Context(), so, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ScaledObject %s/%s: %v", so.Namespace, so.Name, err)
	}
}

// scaleWeb sets the replicas of Deployment web through the scale subresource, as KEDA does
// (unconditionally: no resourceVersion).
func (e *kubeEnv) scaleWeb(t *testing.T, ns string, replicas int32) {
	t.Helper()
	s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}
	if _, err := e.cs.AppsV1().Deployments(ns).UpdateScale(t.Context(), "web", s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("scale %s/web to %d: %v", ns, replicas, err)
	}
}

// webReplicas reads spec.replicas of Deployment web through the scale subresource.
func (e *kubeEnv) webReplicas(t *testing.T, ns string) int32 {
	t.Helper()
	s, err := e.cs.AppsV1().Deployments(ns).GetScale(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get scale of %s/web: %v", ns, err)
	}
	return s.Spec.Replicas
}

// wakegateRules are the RBAC rules internal/provider/kube's documentation lists, as a
// namespaced Role: the tests run wakegate with exactly these.
func wakegateRules(directWake bool) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"keda.sh"}, Resources: []string{"scaledobjects"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if directWake {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"apps"},
			Resources: []string{"deployments/scale", "statefulsets/scale"}, Verbs: []string{"get", "update"}})
	}
	return rules
}

// grantWakegate binds Role wakegate (wakegateRules) to ServiceAccount wakegate in ns.
func (e *kubeEnv) grantWakegate(t *testing.T, ns string, directWake bool) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "wakegate"}, Rules: wakegateRules(directWake)}
	if _, err := e.cs.RbacV1().Roles(ns).Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Role %s/wakegate: %v", ns, err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "wakegate"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "wakegate"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "wakegate", Namespace: ns}},
	}
	if _, err := e.cs.RbacV1().RoleBindings(ns).Create(t.Context(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create RoleBinding %s/wakegate: %v", ns, err)
	}
}

// serviceAccountKubeconfig creates ServiceAccount wakegate in ns and writes a kubeconfig
// that authenticates as it with a bound token, as an in-cluster wakegate would.
func (e *kubeEnv) serviceAccountKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "wakegate"}}
	if _, err := e.cs.CoreV1().ServiceAccounts(ns).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ServiceAccount %s/wakegate: %v", ns, err)
	}
	hour := int64(3600)
	tr, err := e.cs.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), "wakegate",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/wakegate: %v", ns, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: e.c.Server(), CertificateAuthority: e.c.RESTConfig().CAFile}
	cfg.AuthInfos["wakegate"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "wakegate", Namespace: ns}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "wakegate.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
