package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// kubectlTimeout bounds one kubectl invocation.
const kubectlTimeout = 2 * time.Minute

// Kubectl runs the cluster's kubectl as the administrator with args and returns its standard
// output. A failure's error quotes kubectl's standard error. Safe for concurrent use.
func (c *Cluster) Kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	full := append([]string{
		"--kubeconfig", c.admin.kubeconfig, "--cache-dir", filepath.Join(c.dir, "home", "kubectl-cache"),
	}, args...)
	cmd := exec.CommandContext(ctx, c.bins.Kubectl, full...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ApplyServerSide applies the manifests in path (a file or a directory of them) with server-side
// apply, taking ownership of conflicting fields. Safe for concurrent use.
func (c *Cluster) ApplyServerSide(path string) error {
	_, err := c.Kubectl("apply", "--server-side", "--force-conflicts", "-f", path)
	return err
}

// InstallKEDACRDs applies the CustomResourceDefinitions in config/crd/bases of the
// github.com/kedacore/keda/v2 version pinned in tools/k8s/keda/go.mod (the operator StartKEDA
// runs; downloading the module if needed) and waits until every one of them is Established.
func (c *Cluster) InstallKEDACRDs() error {
	dir, err := kedaModuleDir()
	if err != nil {
		return err
	}
	crds := filepath.Join(dir, "config", "crd", "bases")
	if err := c.ApplyServerSide(crds); err != nil {
		return fmt.Errorf("install KEDA CRDs: %w", err)
	}
	if _, err := c.Kubectl("wait", "--for", "condition=Established", "--timeout", "60s", "-f", crds); err != nil {
		return fmt.Errorf("install KEDA CRDs: %w", err)
	}
	return nil
}

// kedaModule is the module whose CRDs InstallKEDACRDs applies.
const kedaModule = "github.com/kedacore/keda/v2"

// kedaModuleDir returns the module-cache directory of the KEDA version tools/k8s/keda pins, as
// `go mod download -json` reports it (run in that wrapper module, so no other go.sum changes).
func kedaModuleDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	wrapper := filepath.Join(root, "tools", "k8s", "keda")
	version, err := requiredVersion(filepath.Join(wrapper, "go.mod"), kedaModule)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", kedaModule+"@"+version)
	cmd.Dir = wrapper
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", kedaModule, err, strings.TrimSpace(stderr.String()))
	}
	var mod struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", fmt.Errorf("go mod download %s: decode output: %w", kedaModule, err)
	}
	if mod.Error != "" || mod.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no module directory: %s", kedaModule, mod.Error)
	}
	return mod.Dir, nil
}
