package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/wakegate/wakegate/integration/harness"
)

// TestManifestsEnvoy runs `envoy --mode validate` on what the apiserver cannot check: every
// Envoy bootstrap under manifestRoots (envoy/plain), and the Envoy configuration inside each
// EnvoyFilter patch (the CRD accepts any object there). An HTTP_FILTER patch is put into a
// bootstrap of the test's own, before the router, with a stand-in for every cluster it names
// (Istio would provide those, e.g. outbound|9001||wakegate.wakegate.svc.cluster.local).
func TestManifestsEnvoy(t *testing.T) {
	t.Parallel()
	bin := harness.EnvoyBin(t)
	_, files := inventory(t)
	dir := t.TempDir()
	validated := 0
	for _, f := range files {
		if f.kind == kindBootstrap {
			validated++
			t.Run(f.rel, func(t *testing.T) {
				if err := harness.ValidateEnvoyConfig(t.Context(), bin, f.path); err != nil {
					t.Error(err)
				}
			})
		}
		if f.kind != kindManifest {
			continue
		}
		for _, d := range f.docs {
			if str(d, "kind") != "EnvoyFilter" {
				continue
			}
			for i, p := range list(mapAt(d, "spec"), "configPatches") {
				validated++
				name := fmt.Sprintf("%s/%s/configPatches[%d]", f.rel, str(mapAt(d, "metadata"), "name"), i)
				path := filepath.Join(dir, fmt.Sprintf("patch-%d.yaml", validated))
				t.Run(name, func(t *testing.T) {
					patch, _ := p.(map[string]any)
					writePatchBootstrap(t, path, patch)
					if err := harness.ValidateEnvoyConfig(t.Context(), bin, path); err != nil {
						t.Error(err)
					}
				})
			}
		}
	}
	if validated == 0 {
		t.Fatal("manifests: found no Envoy bootstrap or EnvoyFilter patch to validate")
	}
}

// writePatchBootstrap writes, as JSON (which Envoy reads as YAML), a bootstrap whose one
// listener runs the HTTP filter that an EnvoyFilter configPatch inserts, followed by the router.
// Patches of any other kind fail t: extend this function before shipping one.
func writePatchBootstrap(t *testing.T, path string, patch map[string]any) {
	t.Helper()
	if applyTo := str(patch, "applyTo"); applyTo != "HTTP_FILTER" {
		t.Fatalf("EnvoyFilter patch applyTo %q: only HTTP_FILTER patches can be validated here", applyTo)
	}
	filter := mapAt(patch, "patch", "value")
	if filter == nil {
		t.Fatal("EnvoyFilter HTTP_FILTER patch has no patch.value")
	}
	var clusters []any
	for _, name := range grpcClusters(filter) {
		clusters = append(clusters, stubCluster(name))
	}
	hcm := map[string]any{
		"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
		"stat_prefix": "patch",
		"route_config": map[string]any{"virtual_hosts": []any{map[string]any{
			"name": "all", "domains": []any{"*"},
			"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"}, "direct_response": map[string]any{"status": 200}}},
		}}},
		"http_filters": []any{filter, map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
			"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}},
	}
	bootstrap := map[string]any{"static_resources": map[string]any{
		"listeners": []any{map[string]any{
			"name":    "patched",
			"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 0}},
			"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
				"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}}}},
		}},
		"clusters": clusters,
	}}
	b, err := json.MarshalIndent(bootstrap, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// grpcClusters returns the cluster_name of every envoy_grpc service anywhere in v.
func grpcClusters(v any) []string {
	var names []string
	switch v := v.(type) {
	case map[string]any:
		if name := str(mapAt(v, "envoy_grpc"), "cluster_name"); name != "" {
			names = append(names, name)
		}
		for _, e := range v {
			names = append(names, grpcClusters(e)...)
		}
	case []any:
		for _, e := range v {
			names = append(names, grpcClusters(e)...)
		}
	}
	return names
}

// stubCluster is an HTTP/2 cluster called name on a loopback address, standing in for one
// that Istio generates; validation never connects to it.
func stubCluster(name string) map[string]any {
	return map[string]any{
		"name": name, "type": "STATIC", "connect_timeout": "1s",
		"typed_extension_protocol_options": map[string]any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
			"@type":                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
			"explicit_http_config": map[string]any{"http2_protocol_options": map[string]any{}},
		}},
		"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{"lb_endpoints": []any{
			map[string]any{"endpoint": map[string]any{"address": map[string]any{
				"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 9001}}}},
		}}}},
	}
}

// TestManifestsMeshConfig decodes the Istio mesh config fragment (its meshConfig key) into
// istio.io/api's MeshConfig, rejecting unknown fields and bad values, as istiod would.
func TestManifestsMeshConfig(t *testing.T) {
	t.Parallel()
	_, files := inventory(t)
	checked := 0
	for _, f := range files {
		if f.rel != "envoy/istio/meshconfig-extension-provider.yaml" {
			continue
		}
		checked++
		mesh := mapAt(f.docs[0], "meshConfig")
		if mesh == nil || len(f.docs) != 1 {
			t.Fatalf("%s: want one document with a meshConfig object", f.rel)
		}
		b, err := json.Marshal(mesh)
		if err != nil {
			t.Fatal(err)
		}
		var mc meshv1alpha1.MeshConfig
		if err := protojson.Unmarshal(b, &mc); err != nil {
			t.Fatalf("%s: meshConfig is not a valid Istio MeshConfig: %v", f.rel, err)
		}
		if len(mc.GetExtensionProviders()) == 0 || mc.GetExtensionProviders()[0].GetEnvoyExtAuthzGrpc() == nil {
			t.Errorf("%s: no envoyExtAuthzGrpc extension provider", f.rel)
		}
	}
	if checked == 0 {
		t.Fatal("envoy/istio/meshconfig-extension-provider.yaml is missing")
	}
}
