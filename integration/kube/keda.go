package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KEDANamespace is the namespace the KEDA operator runs "in" and keeps its cluster objects in.
const KEDANamespace = "keda"

// StartKEDA installs KEDA's CRDs (see InstallKEDACRDs) and starts the KEDA operator built by
// `tools/k8s/build.sh --with-keda`, every address it binds on loopback, returning once its
// readiness probe answers. It fails when the operator has not been built or is already running.
// The operator is stopped with the rest of the cluster.
func (c *Cluster) StartKEDA(ctx context.Context) error {
	if c.bins.KEDAOperator == "" {
		return fmt.Errorf("start KEDA: %w: keda-operator is missing: %s", ErrNotBuilt, buildHint)
	}
	if p := c.process("keda-operator"); p != nil && p.running() {
		return fmt.Errorf("start KEDA: keda-operator already running as pid %d", p.pid())
	}
	if err := c.InstallKEDACRDs(); err != nil {
		return err
	}
	if err := c.createNamespace(ctx, KEDANamespace); err != nil {
		return fmt.Errorf("start KEDA: %w", err)
	}
	certDir, caDir, err := c.kedaCerts()
	if err != nil {
		return fmt.Errorf("start KEDA: %w", err)
	}
	return retryOnAddrInUse(ctx, func(ctx context.Context) error { return c.launchKEDA(ctx, certDir, caDir) })
}

func (c *Cluster) launchKEDA(ctx context.Context, certDir, caDir string) error {
	health, err := freePort()
	if err != nil {
		return err
	}
	grpcPort, err := freePort()
	if err != nil {
		return err
	}
	healthAddr := "127.0.0.1:" + strconv.Itoa(health)
	p, err := c.launch(procSpec{
		name: "keda-operator", path: c.bins.KEDAOperator,
		args: []string{
			"--kubeconfig", c.admin.kubeconfig,
			"--metrics-bind-address", "0", "--health-probe-bind-address", healthAddr,
			"--metrics-service-bind-address", "127.0.0.1:" + strconv.Itoa(grpcPort),
			"--cert-dir", certDir, "--ca-dir", caDir,
			"--leader-elect=false", "--zap-log-level", "info", "--zap-encoder", "console",
		},
		env: []string{
			"POD_NAMESPACE=" + KEDANamespace, "KEDA_CLUSTER_OBJECT_NAMESPACE=" + KEDANamespace,
			"WATCH_NAMESPACE=", "KUBECONFIG=" + c.admin.kubeconfig,
		},
	})
	if err != nil {
		return err
	}
	if err := waitHTTPReady(ctx, p, httpProbe{url: "http://" + healthAddr + "/readyz"}); err != nil {
		return fmt.Errorf("start KEDA: %w", err)
	}
	return nil
}

// kedaCerts writes the certificates KEDA refuses to start without: tls.crt/tls.key (server and
// client use) and ca.crt in one directory, and the CA alone in another.
func (c *Cluster) kedaCerts() (certDir, caDir string, err error) {
	req := servingRequest("keda-operator", "keda-operator.keda.svc", "keda-operator.keda.svc.cluster.local")
	req.usage = append(req.usage, x509.ExtKeyUsageClientAuth)
	cert, key, err := c.pki.issue(req)
	if err != nil {
		return "", "", err
	}
	certDir = filepath.Join(c.dir, "keda", "certs")
	caDir = filepath.Join(c.dir, "keda", "ca")
	links := map[string]string{
		filepath.Join(certDir, "tls.crt"): cert, filepath.Join(certDir, "tls.key"): key,
		filepath.Join(certDir, "ca.crt"): c.pki.caCert, filepath.Join(caDir, "ca.crt"): c.pki.caCert,
	}
	for link, target := range links {
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			return "", "", fmt.Errorf("create %s: %w", filepath.Dir(link), err)
		}
		if err := os.Symlink(target, link); err != nil && !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("link %s: %w", link, err)
		}
	}
	return certDir, caDir, nil
}

// createNamespace creates namespace name unless it exists.
func (c *Cluster) createNamespace(ctx context.Context, name string) error {
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
