package kube_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/integration/kube"
)

// TestInstallKEDACRDs installs KEDA's CRDs and checks the apiserver validates a ScaledObject
// against their schema: a valid one applies, one with an unknown trigger field type is refused.
func TestInstallKEDACRDs(t *testing.T) {
	kube.SkipIfUnavailable(t)
	c := kube.Start(t, kube.Options{})
	if err := c.InstallKEDACRDs(); err != nil {
		t.Fatalf("InstallKEDACRDs: %v", err)
	}
	tests := []struct {
		name     string
		replicas string
		wantErr  string
	}{
		{name: "valid", replicas: "0"},
		{name: "wrong-type", replicas: `"zero"`, wantErr: "minReplicaCount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "so.yaml")
			if err := os.WriteFile(path, []byte(scaledObject(tc.name, tc.replicas)), 0o600); err != nil {
				t.Fatal(err)
			}
			err := c.ApplyServerSide(path)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("apply: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("apply error = %v, want one mentioning %q", err, tc.wantErr)
			case tc.wantErr == "":
				out, err := c.Kubectl("get", "scaledobject", tc.name, "-o", "jsonpath={.spec.triggers[0].type}")
				if err != nil || out != "external-push" {
					t.Fatalf("get scaledobject = %q, %v; want external-push", out, err)
				}
			}
		})
	}
}

func scaledObject(name, minReplicas string) string {
	return `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: ` + name + `
  namespace: default
spec:
  scaleTargetRef:
    name: web
  minReplicaCount: ` + minReplicas + `
  triggers:
  - type: external-push
    metadata:
      scalerAddress: 127.0.0.1:9090
`
}

// TestStartKEDA runs the optional KEDA operator tier when it has been built, and checks that it
// reconciles a ScaledObject: marks it Ready and creates its HorizontalPodAutoscaler.
func TestStartKEDA(t *testing.T) {
	kube.SkipIfUnavailable(t)
	bins, err := kube.FindBinaries("")
	if err != nil || bins.KEDAOperator == "" {
		t.Skip("kube: KEDA operator not built; build it with tools/k8s/build.sh --with-keda")
	}
	c := kube.Start(t, kube.Options{})
	began := time.Now()
	if err := c.StartKEDA(t.Context()); err != nil {
		t.Fatalf("StartKEDA: %v", err)
	}
	t.Logf("KEDA operator ready in %v", time.Since(began).Round(time.Millisecond))
	if err := c.StartKEDA(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second StartKEDA = %v, want an already-running error", err)
	}

	path := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(path, []byte(cronScaledWeb), 0o600); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	if err := c.ApplyServerSide(path); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, args := range [][]string{
		{"wait", "--for=condition=Ready", "--timeout=60s", "scaledobject/web"},
		{"wait", "--for=create", "--timeout=60s", "hpa/keda-hpa-web"},
	} {
		if out, err := c.Kubectl(args...); err != nil {
			t.Fatalf("KEDA did not reconcile the ScaledObject: %v (%s)", err, out)
		}
	}
	t.Logf("KEDA reconciled the ScaledObject in %v", time.Since(applied).Round(time.Millisecond))
	logMemory(t, c)
	stopAndCheckLeftovers(t, c)
}

// cronScaledWeb is a Deployment at zero with a ScaledObject whose trigger needs no outside
// service: a cron window on January 1st, so it stays inactive and the Deployment at zero.
const cronScaledWeb = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 0
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  namespace: default
spec:
  scaleTargetRef:
    name: web
  minReplicaCount: 0
  maxReplicaCount: 2
  triggers:
  - type: cron
    metadata:
      timezone: UTC
      start: 0 0 1 1 *
      end: 1 0 1 1 *
      desiredReplicas: "1"
`
