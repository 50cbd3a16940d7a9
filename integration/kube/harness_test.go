package kube

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRequiredVersion(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "go.mod")
	content := "module x\n\nrequire k8s.io/kubernetes v1.37.2\n\nrequire (\n\tk8s.io/api v0.36.0 // indirect\n" +
		"\tsigs.k8s.io/kwok v0.8.0\n)\n\nreplace k8s.io/api => k8s.io/api v0.37.2\n"
	if err := os.WriteFile(mod, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		module, want, wantErr string
	}{
		{module: "k8s.io/kubernetes", want: "v1.37.2"},
		{module: "sigs.k8s.io/kwok", want: "v0.8.0"},
		{module: "k8s.io/api", want: "v0.36.0"},
		{module: "go.etcd.io/etcd/server/v3", wantErr: "no requirement on go.etcd.io/etcd/server/v3"},
	}
	for _, tc := range tests {
		got, err := requiredVersion(mod, tc.module)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("requiredVersion(%s) = %q, %v; want %q, error containing %q", tc.module, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestWrapperVersions checks that the harness finds a version for every wrapper module in this
// repository, i.e. that it looks where build.sh builds.
func TestWrapperVersions(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wrappers() {
		v, err := requiredVersion(filepath.Join(root, "tools", "k8s", w.dir, "go.mod"), w.module)
		if err != nil || !strings.HasPrefix(v, "v") {
			t.Errorf("tools/k8s/%s: version of %s = %q, %v", w.dir, w.module, v, err)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	full, partial, empty := t.TempDir(), t.TempDir(), t.TempDir()
	for _, w := range wrappers() {
		for _, b := range w.binaries {
			writeExecutable(t, filepath.Join(full, b))
			if b != "kwok" && b != "keda-operator" {
				writeExecutable(t, filepath.Join(partial, b))
			}
		}
	}
	tests := []struct {
		name, dir, wantMissing string
		wantKEDA               bool
	}{
		{name: "all", dir: full, wantKEDA: true},
		{name: "no kwok", dir: partial, wantMissing: "kwok"},
		{name: "nothing", dir: empty, wantMissing: "kube-apiserver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bins, err := FindBinaries(tc.dir)
			if tc.wantMissing == "" {
				if err != nil || bins.APIServer != filepath.Join(tc.dir, "kube-apiserver") || (bins.KEDAOperator != "") != tc.wantKEDA {
					t.Fatalf("FindBinaries = %+v, %v", bins, err)
				}
				return
			}
			if !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), filepath.Join(tc.dir, tc.wantMissing)) ||
				!strings.Contains(err.Error(), "tools/k8s/build.sh") {
				t.Fatalf("FindBinaries error = %v, want ErrNotBuilt naming %s and the build script", err, tc.wantMissing)
			}
		})
	}
}

func writeExecutable(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
}

// TestPKI checks that the apiserver's serving certificate verifies for every name clients use
// and that client certificates carry the user and groups Kubernetes reads from them.
func TestPKI(t *testing.T) {
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.ca)
	serving := loadPair(t, p, apiServerRequest())
	for _, name := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc", serviceIP} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := serving.Verify(opts); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	client := loadPair(t, p, clientRequest("admin", "admin", "system:masters"))
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if client.Subject.CommonName != "admin" || fmt.Sprint(client.Subject.Organization) != "[system:masters]" {
		t.Errorf("client subject = %v, want CN=admin O=system:masters", client.Subject)
	}
	for _, f := range []string{p.saKey, p.saPub, p.caKey} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func loadPair(t *testing.T, p *pki, req certRequest) *x509.Certificate {
	t.Helper()
	certPath, keyPath, err := p.issue(req)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatalf("load %s: %v", req.name, err)
	}
	return pair.Leaf
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]string{2: "c\nd", 4: "a\nb\nc\nd", 10: "a\nb\nc\nd"} {
		if got := tailFile(path, n); got != want {
			t.Errorf("tailFile(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestMain lets the test binary double as a component that ignores SIGTERM or binds a port,
// so process handling can be tested without the control-plane binaries.
func TestMain(m *testing.M) {
	switch os.Getenv("KUBE_HARNESS_HELPER") {
	case "ignore-term":
		ignoreTerm()
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "bind":
		_, err := net.Listen("tcp", os.Getenv("KUBE_HARNESS_ADDR"))
		fmt.Println(err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestProcessStopEscalatesToKill(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("signals")
	}
	dir := t.TempDir()
	spec := procSpec{name: "stubborn", path: os.Args[0], args: []string{"-test.run=^$"}, logPath: filepath.Join(dir, "log")}
	p, err := startProcess(spec, append(os.Environ(), "KUBE_HARNESS_HELPER=ignore-term"))
	if err != nil {
		t.Fatal(err)
	}
	waitLogContains(t, spec.logPath, "ready")
	p.stop(100 * time.Millisecond)
	if p.running() {
		t.Fatal("process still running after stop")
	}
	var exitErr *exec.ExitError
	if !errors.As(p.waitErr, &exitErr) || exitErr.String() != "signal: killed" {
		t.Fatalf("wait error = %v, want signal: killed", p.waitErr)
	}
	p.stop(time.Second) // a no-op on an exited process
}

func TestProcessExitErrorDetectsAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := procSpec{name: "binder", path: os.Args[0], args: []string{"-test.run=^$"}, logPath: filepath.Join(t.TempDir(), "log")}
	p, err := startProcess(spec, append(os.Environ(), "KUBE_HARNESS_HELPER=bind", "KUBE_HARNESS_ADDR="+l.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	if err := p.exitError(); !errors.Is(err, errAddrInUse) {
		t.Fatalf("exitError = %v, want errAddrInUse", err)
	}
}

// waitLogContains waits for a helper process to report it is set up; the helper writes its log
// once, so a short poll is the only way to see it.
func waitLogContains(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never contained %q", path, want)
}
