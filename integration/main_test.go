// Package integration tests wakegate against a real Envoy, the real wakegate binary and
// the real sample app. Every test starts the processes it needs and stops them.
package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// build holds the binaries, built once per test run on first use.
var build struct {
	dir  string
	once sync.Once
	bins harness.Binaries
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wakegate-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binaries builds wakegate and the sample app (with -race when the tests run with it).
func binaries(t testing.TB) harness.Binaries {
	t.Helper()
	build.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		build.bins, build.err = harness.Build(ctx, harness.BuildOptions{Dir: build.dir, Race: harness.RaceEnabled})
	})
	if build.err != nil {
		t.Fatalf("%v", build.err)
	}
	return build.bins
}

// testBootstrap is the local bootstrap with OS-chosen admin and listener ports, routing
// to the app at appPort and asking the ext_proc server at extProcAddr.
func testBootstrap(t testing.TB, appPort int, extProcAddr string) envoy.Local {
	t.Helper()
	host, port, err := net.SplitHostPort(extProcAddr)
	if err != nil {
		t.Fatalf("ext_proc address %q: %v", extProcAddr, err)
	}
	l := envoy.DefaultLocal()
	l.AdminPort, l.ListenPort = 0, 0
	l.AppPort = appPort
	l.WakegateHost = host
	l.WakegatePort, err = strconv.Atoi(port)
	if err != nil {
		t.Fatalf("ext_proc address %q: %v", extProcAddr, err)
	}
	return l
}

// startEnvoy renders l and starts Envoy with it for t.
func startEnvoy(t testing.TB, l envoy.Local) *harness.Envoy {
	t.Helper()
	var cfg strings.Builder
	if err := envoy.RenderLocal(&cfg, l); err != nil {
		t.Fatal(err)
	}
	return harness.EnvoyForTest(t, harness.EnvoyOptions{Bin: harness.EnvoyBin(t), Config: cfg.String()})
}

// reply is what a client got.
type reply struct {
	status  int
	header  http.Header
	body    string
	elapsed time.Duration
}

// get sends GET url with Host host and the given header pairs. A transport error fails t.
func get(t testing.TB, url, host string, headers ...string) reply {
	t.Helper()
	r, err := tryGet(t.Context(), url, host, headers...)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	return r
}

// clientTimeout bounds every test request, so a stuck request fails instead of hanging.
const clientTimeout = 60 * time.Second

func tryGet(ctx context.Context, url, host string, headers ...string) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return reply{}, err
	}
	req.Host = host
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body), elapsed: time.Since(start)}, nil
}

// deadline returns a context for waiting on one condition in t.
func deadline(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
