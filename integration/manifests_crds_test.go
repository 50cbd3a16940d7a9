package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/kube"
)

// crdSource is a pinned Go module that carries CustomResourceDefinitions, and the files or
// directories (relative to the module) to apply from it.
type crdSource struct {
	module, version string
	paths           []string
}

// crdSources are the CRDs the shipped manifests use, besides KEDA's (whose version the
// tools/k8s/keda wrapper module pins; see kube.Cluster.InstallKEDACRDs). The versions go
// together: Envoy Gateway v1.9.1 is built against Gateway API v1.6.1.
var crdSources = []crdSource{
	// HTTPRoute, Gateway, GatewayClass, ReferenceGrant (standard channel).
	{"sigs.k8s.io/gateway-api", "v1.6.1", []string{"config/crd/standard"}},
	// EnvoyExtensionPolicy, BackendTrafficPolicy, SecurityPolicy. (EnvoyProxy's 1.4 MB CRD and
	// the other kinds are left out: nothing here uses them.)
	{"github.com/envoyproxy/gateway", "v1.9.1", []string{
		egCRDs + "gateway.envoyproxy.io_envoyextensionpolicies.yaml",
		egCRDs + "gateway.envoyproxy.io_backendtrafficpolicies.yaml",
		egCRDs + "gateway.envoyproxy.io_securitypolicies.yaml",
	}},
	// EnvoyFilter, VirtualService, AuthorizationPolicy and the rest of Istio's CRDs.
	{"istio.io/api", "v1.32.0", []string{"kubernetes/customresourcedefinitions.gen.yaml"}},
}

// egCRDs is where Envoy Gateway's module keeps its plain (untemplated) CRDs.
const egCRDs = "charts/gateway-helm/charts/crds/crds/generated/"

// installCRDs installs KEDA's CRDs and every crdSource, and waits until all are Established.
func installCRDs(t *testing.T, c *kube.Cluster) {
	t.Helper()
	if err := c.InstallKEDACRDs(); err != nil {
		t.Fatalf("manifests: %v", err)
	}
	for _, src := range crdSources {
		dir := moduleDir(t, src.module, src.version)
		for _, p := range src.paths {
			if err := c.ApplyServerSide(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
				t.Fatalf("manifests: install CRDs from %s@%s: %v", src.module, src.version, err)
			}
		}
	}
	if _, err := c.Kubectl("wait", "--for", "condition=Established", "--timeout", "90s", "crd", "--all"); err != nil {
		t.Fatalf("manifests: CRDs not established: %v", err)
	}
}

// moduleDir returns the module-cache directory of module@version, downloading it from the
// module proxy if needed. It runs outside any module, so no go.mod or go.sum changes. A
// failed download skips t, except under CI=true, where it fails t.
func moduleDir(t *testing.T, module, version string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &mod)
	}
	if err == nil && (mod.Error != "" || mod.Dir == "") {
		err = fmt.Errorf("no module directory: %s", mod.Error)
	}
	if err != nil {
		msg := fmt.Sprintf("manifests: go mod download %s@%s: %v: %s", module, version, err, strings.TrimSpace(stderr.String()))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return mod.Dir
}
