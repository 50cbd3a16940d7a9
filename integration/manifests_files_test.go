package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/wakegate/wakegate/integration/harness"
)

// manifestRoots are the directories of shipped deployment files the manifest tests cover,
// relative to the repository root.
var manifestRoots = []string{"deploy", "envoy/gateway", "envoy/istio", "envoy/plain", "examples/airflow"}

// notKubernetes lists the YAML files under manifestRoots that are neither Kubernetes objects,
// kustomizations nor Envoy bootstraps, with the reason and where they are checked instead.
var notKubernetes = map[string]string{
	"examples/airflow/values.yaml": "Helm values for the Airflow chart; the chart renders them, not the apiserver",
	"envoy/istio/meshconfig-extension-provider.yaml": "an Istio mesh config fragment (Helm values / IstioOperator " +
		"meshConfig), not an object; checked against istio.io/api's MeshConfig by TestManifestsMeshConfig",
}

// fileKind says how a shipped YAML file is validated.
type fileKind int

const (
	kindManifest      fileKind = iota // Kubernetes objects: applied to the apiserver
	kindKustomization                 // rendered with kustomize, then applied
	kindBootstrap                     // an Envoy bootstrap: envoy --mode validate
	kindOther                         // see notKubernetes
)

// shippedFile is one YAML file under manifestRoots.
type shippedFile struct {
	rel  string           // slash-separated, relative to the repository root
	path string           // absolute
	kind fileKind         // how it is validated
	docs []map[string]any // its YAML documents, empty ones dropped
}

// inventory lists every YAML file under manifestRoots, parsed and classified, in path order.
// A file that cannot be parsed, or a manifest document without apiVersion and kind, fails t.
func inventory(t testing.TB) (root string, files []shippedFile) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range manifestRoots {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isYAML(path) {
				return err
			}
			f, err := loadShipped(root, path)
			if err == nil {
				files = append(files, f)
			}
			return err
		})
		if err != nil {
			t.Fatalf("manifests: %v", err)
		}
	}
	if len(files) == 0 {
		t.Fatalf("manifests: no YAML files under %v", manifestRoots)
	}
	return root, files
}

func isYAML(path string) bool {
	return strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")
}

func loadShipped(root, path string) (shippedFile, error) {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return shippedFile{}, err
	}
	f := shippedFile{rel: filepath.ToSlash(rel), path: path}
	if f.docs, err = readDocs(path); err != nil {
		return f, err
	}
	switch {
	case filepath.Base(path) == "kustomization.yaml":
		f.kind = kindKustomization
	case notKubernetes[f.rel] != "":
		f.kind = kindOther
	case len(f.docs) == 1 && f.docs[0]["static_resources"] != nil:
		f.kind = kindBootstrap
	default:
		f.kind = kindManifest
		for i, d := range f.docs {
			if str(d, "apiVersion") == "" || str(d, "kind") == "" {
				return f, fmt.Errorf("%s: document %d has no apiVersion or kind: neither an object, a kustomization "+
					"nor an Envoy bootstrap (list it in notKubernetes with a reason if it is meant to be)", f.rel, i+1)
			}
		}
	}
	return f, nil
}

// readDocs decodes every YAML document in path into a map, dropping empty documents.
func readDocs(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(d) > 0 {
			docs = append(docs, d)
		}
	}
}

// TestManifestsInventory: every YAML file shipped under manifestRoots is something a test
// validates, and every file beside a kustomization.yaml is used by it (a file kustomize
// never reads would never be applied, so never validated).
func TestManifestsInventory(t *testing.T) {
	t.Parallel()
	_, files := inventory(t)
	used := map[string]bool{}       // files some kustomization reads
	kustomized := map[string]bool{} // directories with a kustomization.yaml
	for _, f := range files {
		if f.kind != kindKustomization {
			continue
		}
		dir := path.Dir(f.rel)
		kustomized[dir] = true
		for _, ref := range kustomizeRefs(f.docs[0]) {
			used[path.Join(dir, ref)] = true
		}
	}
	for _, f := range files {
		if f.kind == kindKustomization || f.kind == kindOther || !kustomized[path.Dir(f.rel)] {
			continue
		}
		if !used[f.rel] {
			t.Errorf("%s: not referenced by %s/kustomization.yaml (resources, patches or generator files)", f.rel, path.Dir(f.rel))
		}
	}
}

// kustomizeRefs returns the local file paths a kustomization reads: resources, patches and
// configMapGenerator / secretGenerator files (directories and remote bases included; the
// caller only looks up files).
func kustomizeRefs(k map[string]any) []string {
	var refs []string
	for _, r := range list(k, "resources") {
		if s, ok := r.(string); ok {
			refs = append(refs, s)
		}
	}
	for _, p := range list(k, "patches") {
		if m, ok := p.(map[string]any); ok && str(m, "path") != "" {
			refs = append(refs, str(m, "path"))
		}
	}
	for _, key := range []string{"configMapGenerator", "secretGenerator"} {
		for _, g := range list(k, key) {
			m, _ := g.(map[string]any)
			for _, f := range list(m, "files") {
				s, _ := f.(string)
				_, after, found := strings.Cut(s, "=") // "key=path" form
				if found {
					s = after
				}
				refs = append(refs, s)
			}
		}
	}
	return refs
}

// str returns m[key] if it is a string, else "".
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// list returns m[key] if it is a list, else nil.
func list(m map[string]any, key string) []any {
	l, _ := m[key].([]any)
	return l
}

// field follows a path of map keys from m and returns what it finds, or nil.
func field(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// mapAt is field for objects: the map at path, or nil.
func mapAt(m map[string]any, path ...string) map[string]any {
	v, _ := field(m, path...).(map[string]any)
	return v
}
