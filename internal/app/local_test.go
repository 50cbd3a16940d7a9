package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// shutdownBound is how long, beyond --shutdown-delay, a test lets runLocal take to return.
const shutdownBound = 20 * time.Second

// TestRunLocalLifecycle runs `wakegate local` in-process with one target, the real sample
// app: it starts and reports ready, wakes the app for a request over ext_proc, and on
// cancellation reports not ready for the shutdown delay, stops the app and returns nil,
// leaving no goroutine behind.
func TestRunLocalLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // runs after the other defers
	const delay = time.Second
	appAddr := freeAddr(t)
	dir := t.TempDir()
	cfg := writeLocalConfig(t, dir, sampleApp(t), appAddr)
	portsFile := filepath.Join(dir, "ports.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- runLocal(ctx, Env{Stdout: io.Discard, Stderr: &logs, Version: "test"}, []string{"--config", cfg,
			"--ports-file", portsFile, "--envoy-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--scaler-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0",
			"--log-level", "debug", "--shutdown-delay", delay.String(), "--shutdown-timeout", "5s"})
	}()
	defer func() {
		if t.Failed() {
			t.Logf("wakegate log:\n%s", logs.String())
		}
	}()
	ports := awaitPorts(t, portsFile, done)
	awaitStatus(t, "http://"+ports.Admin+"/readyz", http.StatusOK, done)

	wakeOverExtProc(t, ports.Envoy, "app.test")
	if code, hdr := getStatus(t, "http://"+appAddr+"/"); code != http.StatusOK || hdr.Get("x-sample-app") != "lifecycle" {
		t.Fatalf("the app after the wake: %d, x-sample-app %q", code, hdr.Get("x-sample-app"))
	}

	cancel()
	cancelled := time.Now()
	awaitStatus(t, "http://"+ports.Admin+"/readyz", http.StatusServiceUnavailable, nil)
	select {
	case err := <-done:
		t.Fatalf("run returned (%v) before /readyz reported 503", err)
	default:
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(delay + shutdownBound):
		t.Fatalf("run did not return within %v of the cancellation", delay+shutdownBound)
	}
	if took := time.Since(cancelled); took < delay {
		t.Errorf("run returned %v after the cancellation, before the %v shutdown delay", took, delay)
	}
	for what, addr := range map[string]string{"the app": appAddr, "--envoy-addr": ports.Envoy, "--admin-addr": ports.Admin, "--scaler-addr": ports.Scaler} {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s (%s) still accepts connections after run returned", what, addr)
		}
	}
}

// TestRunLocalListenError: a port already taken fails the run with an error naming the
// flag; it is not a usage error.
func TestRunLocalListenError(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := writeLocalConfig(t, dir, "/bin/true", freeAddr(t))
	err = runLocal(t.Context(), Env{Stdout: io.Discard, Stderr: io.Discard}, []string{"--config", cfg,
		"--envoy-addr", "127.0.0.1:0", "--admin-addr", taken.Addr().String(), "--scaler-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "--admin-addr "+taken.Addr().String()) || ExitCode(err) != 1 {
		t.Fatalf("run with a taken admin port: %v (exit code %d); want an error naming --admin-addr, exit code 1", err, ExitCode(err))
	}
}

// sampleApp builds examples/sample-app into a temporary directory.
func sampleApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sample-app")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/wakegate/wakegate/examples/sample-app").CombinedOutput()
	if err != nil {
		t.Fatalf("go build sample-app: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address that was free a moment ago, for a process that
// cannot report the port it bound.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeLocalConfig writes a config with one target "app" (Host app.test) running bin as
// the sample app on appAddr, and returns its path.
func writeLocalConfig(t *testing.T, dir, bin, appAddr string) string {
	t.Helper()
	doc := map[string]any{"targets": []map[string]any{{
		"name":            "app",
		"match":           map[string]any{"hosts": []string{"app.test"}},
		"process":         map[string]any{"command": []string{bin, "--listen", appAddr, "--name", "lifecycle"}},
		"readiness":       map[string]any{"http": "http://" + appAddr + "/healthz", "interval": "20ms"},
		"idleTimeout":     "10m",
		"holdTimeout":     "30s",
		"stopGracePeriod": "5s",
	}}}
	b, err := json.Marshal(doc) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "wakegate.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// boundPorts is the --ports-file document.
type boundPorts struct{ Envoy, Scaler, Admin string }

// awaitPorts waits for the ports file; it fails t if run returns first.
func awaitPorts(t *testing.T, path string, done <-chan error) boundPorts {
	t.Helper()
	var p boundPorts
	eventually(t, "the ports file", done, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &p)
	})
	if p.Envoy == "" || p.Scaler == "" || p.Admin == "" {
		t.Fatalf("ports file %s lacks an address: %+v", path, p)
	}
	return p
}

// awaitStatus waits until GET url answers code.
func awaitStatus(t *testing.T, url string, code int, done <-chan error) {
	t.Helper()
	eventually(t, url+" to answer "+http.StatusText(code), done, func() error {
		if got, _ := getStatus(t, url); got != code {
			return errors.New(http.StatusText(got))
		}
		return nil
	})
}

// client does not keep connections, so none outlives a test.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// getStatus returns the status and headers of GET url, or 0 if it failed.
func getStatus(t *testing.T, url string) (int, http.Header) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// eventually polls cond every 10ms until it returns nil; it fails t after 30 s or if done
// (when not nil) delivers first.
func eventually(t *testing.T, what string, done <-chan error, cond func() error) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case runErr := <-done:
			t.Fatalf("waiting for %s: run returned %v", what, runErr)
		case <-deadline.C:
			t.Fatalf("waiting for %s: %v", what, err)
		case <-tick.C:
		}
	}
}

// wakeOverExtProc sends the request headers of GET http://host/ to wakegate's ext_proc
// port as Envoy would and checks that the held request is released to the target.
func wakeOverExtProc(t *testing.T, addr, host string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	headers := []*corev3.HeaderValue{{Key: ":authority", RawValue: []byte(host)}, {Key: ":path", RawValue: []byte("/")},
		{Key: ":method", RawValue: []byte("GET")}}
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: headers}, EndOfStream: true}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("ext_proc: %v", err)
	}
	common := resp.GetRequestHeaders().GetResponse()
	set := common.GetHeaderMutation().GetSetHeaders()
	if common.GetStatus() != extprocv3.CommonResponse_CONTINUE || len(set) != 1 || set[0].GetHeader().GetKey() != "x-wakegate-cold-start" {
		t.Fatalf("ext_proc answer %v; want CONTINUE with x-wakegate-cold-start (released after the wake)", resp)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("ext_proc stream after CloseSend: %v, want EOF", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunLocalShutdownTimeout: an ext_proc stream that never ends (Envoy keeps it open)
// outlives --shutdown-timeout; run still stops every server and returns.
func TestRunLocalShutdownTimeout(t *testing.T) {
	dir := t.TempDir()
	cfg := writeLocalConfig(t, dir, sampleApp(t), freeAddr(t))
	portsFile := filepath.Join(dir, "ports.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runLocal(ctx, Env{Stdout: io.Discard, Stderr: io.Discard, Version: "test"}, []string{"--config", cfg,
			"--ports-file", portsFile, "--envoy-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--scaler-addr", "127.0.0.1:0",
			"--peer-addr", "127.0.0.1:0", "--shutdown-delay", "0s", "--shutdown-timeout", "200ms"})
	}()
	ports := awaitPorts(t, portsFile, done)
	conn, err := grpc.NewClient(ports.Envoy, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// An open stream with nothing sent: the server's handler waits on Recv until it ends.
	if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: ":authority", RawValue: []byte("unmatched.test")}, {Key: ":path", RawValue: []byte("/")}}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // answered (unmatched: continue); the stream stays open
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(shutdownBound):
		t.Fatalf("run did not return within %v although --shutdown-timeout is 200ms", shutdownBound)
	}
}
