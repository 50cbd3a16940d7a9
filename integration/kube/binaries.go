package kube

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BinEnv names the environment variable that, when set, points at one directory holding every
// control-plane binary (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd,
// kwok and optionally keda-operator), overriding the .tools/ cache that tools/k8s/build.sh fills.
const BinEnv = "WAKEGATE_K8S_BIN"

// buildHint tells a developer how to get the binaries; it ends every "not found" error.
const buildHint = "build them with tools/k8s/build.sh (add --with-keda for the KEDA operator), " +
	"or set " + BinEnv + " to a directory holding them"

// ErrNotBuilt is wrapped by the errors Available and FindBinaries return when a control-plane
// binary is missing, as opposed to a broken checkout.
var ErrNotBuilt = errors.New("control-plane binaries not built")

// Binaries holds the absolute paths of the control-plane executables. KEDAOperator is empty when
// the optional KEDA operator has not been built. A Binaries value is immutable once found.
type Binaries struct {
	APIServer         string
	ControllerManager string
	Scheduler         string
	Kubectl           string
	Etcd              string
	Kwok              string
	KEDAOperator      string
}

// wrapper names one tools/k8s wrapper module: the module it pins, the .tools/ directory prefix
// build.sh writes its binaries under, and those binaries.
type wrapper struct {
	dir      string
	module   string
	prefix   string
	binaries []string
}

// wrappers lists the tools/k8s wrapper modules; KEDA's binary is optional.
func wrappers() []wrapper {
	return []wrapper{
		{"kube", "k8s.io/kubernetes", "k8s",
			[]string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"}},
		{"etcd", "go.etcd.io/etcd/server/v3", "etcd", []string{"etcd"}},
		{"kwok", "sigs.k8s.io/kwok", "kwok", []string{"kwok"}},
		{"keda", "github.com/kedacore/keda/v2", "keda", []string{"keda-operator"}},
	}
}

// Available reports whether every required control-plane binary can be found (see FindBinaries).
// The error names the first missing binary and says how to build it; it wraps ErrNotBuilt when
// the binaries are merely not built yet.
func Available() error {
	_, err := FindBinaries("")
	return err
}

// FindBinaries locates the control-plane binaries: in dir when it is not empty, else in the
// directory named by $WAKEGATE_K8S_BIN, else in <repo>/.tools/<component>-<version>/bin with the
// versions read from the tools/k8s wrapper modules' go.mod files, exactly where build.sh puts them.
func FindBinaries(dir string) (Binaries, error) {
	if dir == "" {
		dir = os.Getenv(BinEnv)
	}
	paths := map[string]string{}
	if dir != "" {
		for _, w := range wrappers() {
			for _, b := range w.binaries {
				paths[b] = filepath.Join(dir, b)
			}
		}
	} else if err := toolsPaths(paths); err != nil {
		return Binaries{}, err
	}
	bins := Binaries{
		APIServer: paths["kube-apiserver"], ControllerManager: paths["kube-controller-manager"],
		Scheduler: paths["kube-scheduler"], Kubectl: paths["kubectl"],
		Etcd: paths["etcd"], Kwok: paths["kwok"], KEDAOperator: paths["keda-operator"],
	}
	for _, p := range []string{bins.APIServer, bins.ControllerManager, bins.Scheduler, bins.Kubectl, bins.Etcd, bins.Kwok} {
		if err := executable(p); err != nil {
			return Binaries{}, err
		}
	}
	if executable(bins.KEDAOperator) != nil {
		bins.KEDAOperator = ""
	}
	return bins, nil
}

// toolsPaths fills paths with the .tools/ location of every wrapper's binaries.
func toolsPaths(paths map[string]string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	for _, w := range wrappers() {
		modFile := filepath.Join(root, "tools", "k8s", w.dir, "go.mod")
		version, err := requiredVersion(modFile, w.module)
		if err != nil {
			return err
		}
		for _, b := range w.binaries {
			paths[b] = filepath.Join(root, ".tools", w.prefix+"-"+version, "bin", b)
		}
	}
	return nil
}

// executable returns an error wrapping ErrNotBuilt unless path is an executable regular file.
func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %s is missing: %s", ErrNotBuilt, path, buildHint)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: %s is not an executable file: %s", ErrNotBuilt, path, buildHint)
	}
	return nil
}

// RepoRoot returns the directory of the nearest go.mod at or above the working directory, which
// for this package's tests is the wakegate repository root.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("find repository root: no go.mod in %s or any parent", wd)
		}
	}
}

// requiredVersion returns the version the go.mod at modFile requires of module, accepting both
// the single-line "require m v" and the block form.
func requiredVersion(modFile, module string) (string, error) {
	f, err := os.Open(modFile)
	if err != nil {
		return "", fmt.Errorf("read wrapper module: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[0] == "require" && fields[1] == module {
			return fields[2], nil
		}
		if len(fields) >= 2 && fields[0] == module && strings.HasPrefix(fields[1], "v") {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", modFile, err)
	}
	return "", fmt.Errorf("%s: no requirement on %s", modFile, module)
}
