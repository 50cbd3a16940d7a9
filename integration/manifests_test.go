package integration

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
	"github.com/wakegate/wakegate/integration/kube"
)

// TestManifests applies every Kubernetes object wakegate ships — deploy/ (each kustomization,
// and each Component on top of deploy/base), the Envoy Gateway and Istio hooks under envoy/,
// envoy/plain and the Airflow example — to a real kube-apiserver with the CRDs they use
// installed (KEDA, Gateway API, Envoy Gateway, Istio; versions in crdSources). Every apply is
// server-side with --validate=strict, so an unknown or misspelled field, a wrong type or a
// failed CEL rule fails, and with --warnings-as-errors, so a Pod Security violation in the
// restricted wakegate namespace or a deprecated API fails too. One subtest per kustomization and
// per file. Kustomizations are really applied (they create the namespace and RBAC the RBAC
// checks look at); single files are applied with --dry-run=server.
//
// Not covered here: Envoy bootstraps (TestManifestsEnvoy) and the files in notKubernetes.
func TestManifests(t *testing.T) {
	kube.SkipIfUnavailable(t)
	root, files := inventory(t)
	c := kube.Start(t, kube.Options{})
	installCRDs(t, c)
	// The namespaces the objects live in; the Airflow chart or Istio would create theirs.
	for _, ns := range []string{"wakegate", "airflow", "istio-system"} {
		if _, err := c.Kubectl("create", "namespace", ns); err != nil {
			t.Fatalf("manifests: %v", err)
		}
	}
	for _, k := range kustomizeRuns(t, root, files) {
		t.Run(k.name, func(t *testing.T) {
			if _, err := c.Kubectl(applyArgs(false, "-k", k.dir)...); err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
			if k.after != nil {
				k.after(t, c)
			}
		})
	}
	for _, f := range files {
		if f.kind != kindManifest {
			continue
		}
		t.Run(f.rel, func(t *testing.T) {
			if _, err := c.Kubectl(applyArgs(true, "-f", f.path)...); err != nil {
				t.Fatalf("%s: %v", f.rel, err)
			}
		})
	}
}

// applyArgs is kubectl's server-side apply with strict validation, warnings as errors, and
// optionally only a server-side dry run, of what the last arguments name.
func applyArgs(dryRun bool, what ...string) []string {
	args := []string{"apply", "--server-side", "--force-conflicts", "--field-manager=wakegate-manifests-test",
		"--validate=strict", "--warnings-as-errors"}
	if dryRun {
		args = append(args, "--dry-run=server")
	}
	return append(args, what...)
}

// kustomizeRun is one kustomization to apply and what to check afterwards.
type kustomizeRun struct {
	name  string // for the subtest
	dir   string // absolute; a kubectl -k argument
	after func(*testing.T, *kube.Cluster)
}

// kustomizeRuns lists each Kustomization under manifestRoots (deploy/base first: the others
// build on it), and for each Component an overlay in a temporary directory that adds it to
// deploy/base.
func kustomizeRuns(t *testing.T, root string, files []shippedFile) []kustomizeRun {
	t.Helper()
	var runs []kustomizeRun
	for _, f := range files {
		if f.kind != kindKustomization {
			continue
		}
		dir := path.Dir(f.rel)
		run := kustomizeRun{name: "kustomize " + dir, dir: filepath.Dir(f.path), after: rbacChecks[dir]}
		if str(f.docs[0], "kind") == "Component" {
			run.name = "kustomize deploy/base + component " + dir
			run.dir = componentOverlay(t, root, dir)
		}
		runs = append(runs, run)
	}
	slices.SortStableFunc(runs, func(a, b kustomizeRun) int {
		return boolOrder(a.name != "kustomize deploy/base") - boolOrder(b.name != "kustomize deploy/base")
	})
	if len(runs) == 0 || runs[0].name != "kustomize deploy/base" {
		t.Fatal("manifests: deploy/base/kustomization.yaml is missing")
	}
	return runs
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// componentOverlay writes a kustomization that adds the Component in componentDir (relative to
// root) to deploy/base and returns its directory. kustomize wants relative paths.
func componentOverlay(t *testing.T, root, componentDir string) string {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		return filepath.ToSlash(r)
	}
	k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"+
		"resources: [%q]\ncomponents: [%q]\n", rel("deploy/base"), rel(componentDir))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rbacChecks are the permission checks run after applying a kustomization, keyed by its
// directory: wakegate's ServiceAccount can do what `wakegate serve` needs, and no more.
var rbacChecks = map[string]func(*testing.T, *kube.Cluster){
	"deploy/base": func(t *testing.T, c *kube.Cluster) {
		checkCan(t, c, map[string]bool{
			"list scaledobjects.keda.sh":                  true,
			"watch scaledobjects.keda.sh":                 true,
			"list endpointslices.discovery.k8s.io":        true,
			"watch endpointslices.discovery.k8s.io":       true,
			"create events":                               true,
			"patch events":                                true,
			"update scaledobjects.keda.sh":                false,
			"list secrets":                                false,
			"get deployments.apps --subresource=scale":    false,
			"update deployments.apps --subresource=scale": false,
		})
	},
	"deploy/components/direct-wake": checkDirectWake,
	"deploy/overlays/direct-wake":   checkDirectWake,
}

// checkDirectWake: with the direct-wake Component, wakegate may also read and update the scale
// subresource of Deployments and StatefulSets, and nothing more of them.
func checkDirectWake(t *testing.T, c *kube.Cluster) {
	checkCan(t, c, map[string]bool{
		"get deployments.apps --subresource=scale":     true,
		"update deployments.apps --subresource=scale":  true,
		"update statefulsets.apps --subresource=scale": true,
		"patch deployments.apps --subresource=scale":   false,
		"update deployments.apps":                      false,
		"patch deployments.apps":                       false,
	})
}

// wakegateSA is the identity deploy/base runs wakegate as.
const wakegateSA = "system:serviceaccount:wakegate:wakegate"

// checkCan asks the apiserver (kubectl auth can-i, cluster-wide) whether wakegateSA may do each
// action. The authorizer learns about new RBAC objects from a watch, so a "no" where "yes" is
// wanted is asked again until a deadline.
func checkCan(t *testing.T, c *kube.Cluster, want map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for action, allowed := range want {
		args := append([]string{"auth", "can-i", "--all-namespaces", "--as", wakegateSA}, strings.Fields(action)...)
		var got string
		err := harness.Poll(ctx, func() (bool, error) {
			out, err := c.Kubectl(args...) // exits 1 on "no"; the answer is on stdout either way
			got = strings.TrimSpace(out)
			if got != "yes" && got != "no" {
				return false, harness.GiveUp(fmt.Errorf("kubectl auth can-i %s: %q: %v", action, got, err))
			}
			return got == "yes" || !allowed, nil
		})
		if err != nil || (got == "yes") != allowed {
			t.Errorf("%s may %s: got %q, want allowed=%v (%v)", wakegateSA, action, got, allowed, err)
		}
	}
}
