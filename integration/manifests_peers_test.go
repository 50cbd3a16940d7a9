package integration

import (
	"fmt"
	"net"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/wakegate/wakegate/internal/peer/kubepeers"
)

// TestManifestsPeerWiring: deploy/base wires the peer mesh together. The Deployment runs
// more than one replica with POD_NAME and POD_NAMESPACE from the downward API; its
// --peer-service names a headless Service in deploy/base that lists only ready pods, selects
// the Deployment's pods and has a port named grpc-peer whose target is the container port
// wakegate's --peer-addr listens on; a PodDisruptionBudget keeps one replica up.
func TestManifestsPeerWiring(t *testing.T) {
	t.Parallel()
	_, files := inventory(t)
	objs := map[string]map[string]any{} // "Kind/name" in deploy/base
	for _, f := range files {
		if path.Dir(f.rel) != "deploy/base" || f.kind != kindManifest {
			continue
		}
		for _, d := range f.docs {
			objs[str(d, "kind")+"/"+str(mapAt(d, "metadata"), "name")] = d
		}
	}
	dep := objs["Deployment/wakegate"]
	if dep == nil {
		t.Fatal("deploy/base: no Deployment wakegate")
	}
	if r, _ := field(dep, "spec", "replicas").(float64); r < 2 {
		t.Errorf("Deployment wakegate: replicas %v, want at least 2", field(dep, "spec", "replicas"))
	}
	podLabels := mapAt(dep, "spec", "template", "metadata", "labels")
	c, _ := list(mapAt(dep, "spec", "template", "spec"), "containers")[0].(map[string]any)
	checkDownwardEnv(t, c, map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"})
	svcName, peerAddr := flagValue(c, "--peer-service"), flagValue(c, "--peer-addr")
	svc := objs["Service/"+svcName]
	if svc == nil {
		t.Fatalf("Deployment wakegate: --peer-service=%q names no Service in deploy/base", svcName)
	}
	spec := mapAt(svc, "spec")
	if str(spec, "clusterIP") != "None" || field(spec, "publishNotReadyAddresses") == true {
		t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want a headless Service of ready pods",
			svcName, str(spec, "clusterIP"), field(spec, "publishNotReadyAddresses"))
	}
	if !subset(mapAt(spec, "selector"), podLabels) || len(mapAt(spec, "selector")) == 0 {
		t.Errorf("Service %s: selector %v does not select the pods (labels %v)", svcName, mapAt(spec, "selector"), podLabels)
	}
	checkPeerPort(t, svcName, spec, c, peerAddr)
	pdb := objs["PodDisruptionBudget/wakegate"]
	if fmt.Sprint(field(pdb, "spec", "minAvailable")) != "1" || !subset(mapAt(pdb, "spec", "selector", "matchLabels"), podLabels) {
		t.Errorf("PodDisruptionBudget wakegate: %v; want minAvailable 1 selecting wakegate's pods", field(pdb, "spec"))
	}
}

// flagValue returns the value of a --name=value argument of container c.
func flagValue(c map[string]any, name string) string {
	for _, a := range list(c, "args") {
		if v, ok := strings.CutPrefix(fmt.Sprint(a), name+"="); ok {
			return v
		}
	}
	return ""
}

// checkDownwardEnv: each variable of want is set from the pod field named.
func checkDownwardEnv(t *testing.T, c map[string]any, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, e := range list(c, "env") {
		ev, _ := e.(map[string]any)
		got[str(ev, "name")] = str(mapAt(ev, "valueFrom", "fieldRef"), "fieldPath")
	}
	for name, fp := range want {
		if got[name] != fp {
			t.Errorf("container wakegate: env %s from fieldRef %q, want %q", name, got[name], fp)
		}
	}
}

// checkPeerPort: the Service has a port named kubepeers.DefaultPortName whose targetPort
// is a container port of c, the one --peer-addr listens on.
func checkPeerPort(t *testing.T, svcName string, spec, c map[string]any, peerAddr string) {
	t.Helper()
	var target string
	for _, p := range list(spec, "ports") {
		pm, _ := p.(map[string]any)
		if str(pm, "name") == kubepeers.DefaultPortName {
			target = fmt.Sprint(field(pm, "targetPort"))
		}
	}
	var containerPorts []string
	for _, p := range list(c, "ports") {
		pm, _ := p.(map[string]any)
		if str(pm, "name") == target {
			target = fmt.Sprint(field(pm, "containerPort"))
		}
		containerPorts = append(containerPorts, str(pm, "name"))
	}
	_, listen, err := net.SplitHostPort(peerAddr)
	if err != nil || target != listen {
		t.Errorf("Service %s port %s → container port %q (container ports %v); --peer-addr=%q (%v): want them to meet",
			svcName, kubepeers.DefaultPortName, target, containerPorts, peerAddr, err)
	}
	if !slices.Contains(containerPorts, kubepeers.DefaultPortName) {
		t.Errorf("container wakegate: no port named %s (ports %v)", kubepeers.DefaultPortName, containerPorts)
	}
}

// subset reports whether every key of sub has the same value in m.
func subset(sub, m map[string]any) bool {
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}
