package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wakegate/wakegate/envoy"
)

// FindEnvoy returns the Envoy binary: $ENVOY_BIN, or the one `make envoy` installs under
// the repository's .tools directory.
func FindEnvoy() (string, error) {
	if bin := os.Getenv("ENVOY_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("ENVOY_BIN: %w", err)
		}
		return bin, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, ".tools", "envoy-"+envoy.Version, "envoy")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no Envoy: ENVOY_BIN is unset and %s is missing (run `make envoy`)", bin)
	}
	return bin, nil
}

// EnvoyBin returns the Envoy binary for a test. Without one the test is skipped, except
// in CI (CI=true), where a missing Envoy fails it.
func EnvoyBin(t testing.TB) string {
	t.Helper()
	bin, err := FindEnvoy()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return bin
}

// EnvoyOptions describe an Envoy to start.
type EnvoyOptions struct {
	Bin         string
	Config      string // the bootstrap YAML; listeners and admin may use port 0
	Dir         string // for the config file, the admin address file and the log; required
	Name        string // for messages and file names; "envoy" if empty
	Concurrency int    // worker threads; 1 if 0
	LogLevel    string // Envoy's --log-level; "warn" if empty
}

// Envoy is a running Envoy whose admin interface and listeners are known.
type Envoy struct {
	*Process
	admin     string            // host:port
	listeners map[string]string // listener name → host:port; fixed after start
}

// StartEnvoy starts Envoy and waits until its admin interface reports LIVE and every
// listener is bound. On error nothing is left running. The caller must call Stop.
func StartEnvoy(ctx context.Context, opts EnvoyOptions) (*Envoy, error) {
	if opts.Name == "" {
		opts.Name = "envoy"
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 1
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	cfg := filepath.Join(opts.Dir, opts.Name+".yaml")
	adminPath := filepath.Join(opts.Dir, opts.Name+".admin")
	if err := os.WriteFile(cfg, []byte(opts.Config), 0o644); err != nil {
		return nil, fmt.Errorf("start %s: %w", opts.Name, err)
	}
	p, err := StartProcess(ProcessOptions{Name: opts.Name, Path: opts.Bin, LogPath: filepath.Join(opts.Dir, opts.Name+".log"),
		Args: []string{"-c", cfg, "--admin-address-path", adminPath, "--use-dynamic-base-id", "--disable-hot-restart",
			"--concurrency", strconv.Itoa(opts.Concurrency), "--log-level", opts.LogLevel}})
	if err != nil {
		return nil, err
	}
	e := &Envoy{Process: p}
	if err := e.awaitStart(ctx, adminPath); err != nil {
		_ = p.Stop(StopGrace)
		return nil, fmt.Errorf("start %s: %w\n%s", opts.Name, err, tail(p.Log(), 30))
	}
	return e, nil
}

// EnvoyForTest starts Envoy for t and stops it in t.Cleanup. Dir defaults to t.TempDir().
func EnvoyForTest(t TB, opts EnvoyOptions) *Envoy {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), StartTimeout)
	defer cancel()
	e, err := StartEnvoy(ctx, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	e.stopOnCleanup(t)
	return e
}

func (e *Envoy) awaitStart(ctx context.Context, adminPath string) error {
	err := Poll(ctx, func() (bool, error) {
		if e.exited() {
			return false, GiveUp(fmt.Errorf("%w: %v", errExited, e.ExitErr()))
		}
		b, err := os.ReadFile(adminPath)
		if err != nil || len(b) == 0 {
			return false, errors.New("no admin address yet")
		}
		e.admin = strings.TrimSpace(string(b))
		state, err := httpGetString(ctx, e.AdminURL()+"/ready")
		return strings.TrimSpace(state) == "LIVE", err
	})
	if err != nil {
		return err
	}
	return e.loadListeners(ctx)
}

func (e *Envoy) exited() bool {
	select {
	case <-e.Done():
		return true
	default:
		return false
	}
}

var errExited = errors.New("process exited")

func (e *Envoy) loadListeners(ctx context.Context) error {
	var doc struct {
		ListenerStatuses []struct {
			Name         string `json:"name"`
			LocalAddress struct {
				SocketAddress struct {
					Address   string `json:"address"`
					PortValue int    `json:"port_value"`
				} `json:"socket_address"`
			} `json:"local_address"`
		} `json:"listener_statuses"`
	}
	if err := httpGetJSON(ctx, e.AdminURL()+"/listeners?format=json", &doc); err != nil {
		return err
	}
	e.listeners = make(map[string]string, len(doc.ListenerStatuses))
	for _, l := range doc.ListenerStatuses {
		sa := l.LocalAddress.SocketAddress
		if sa.PortValue == 0 {
			return fmt.Errorf("listener %q has no port yet", l.Name)
		}
		e.listeners[l.Name] = fmt.Sprintf("%s:%d", sa.Address, sa.PortValue)
	}
	return nil
}

// AdminURL returns the admin interface's base URL.
func (e *Envoy) AdminURL() string { return "http://" + e.admin }

// Listener returns the host:port of the named listener, or "" if there is none.
func (e *Envoy) Listener(name string) string { return e.listeners[name] }

// URL returns "http://host:port" for the named listener.
func (e *Envoy) URL(listener string) string { return "http://" + e.listeners[listener] }

// Stats returns Envoy's counters and gauges whose names contain filter.
func (e *Envoy) Stats(ctx context.Context, filter string) (map[string]int64, error) {
	body, err := httpGetString(ctx, e.AdminURL()+"/stats?usedonly&filter="+filter)
	if err != nil {
		return nil, err
	}
	stats := map[string]int64{}
	for line := range strings.Lines(body) {
		name, val, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(val, 10, 64); err == nil { // histograms are not integers
			stats[name] = n
		}
	}
	return stats, nil
}

// Stat returns one counter or gauge (0 if Envoy has not used it yet).
func (e *Envoy) Stat(ctx context.Context, name string) (int64, error) {
	stats, err := e.Stats(ctx, "^"+strings.ReplaceAll(name, ".", `\.`)+"$")
	return stats[name], err
}

// ValidateEnvoyConfig runs `envoy --mode validate` on the config file at path.
func ValidateEnvoyConfig(ctx context.Context, bin, path string) error {
	out, err := exec.CommandContext(ctx, bin, "--mode", "validate", "-c", path, "--log-level", "warn").CombinedOutput()
	if err != nil {
		return fmt.Errorf("envoy --mode validate -c %s: %w\n%s", path, err, out)
	}
	return nil
}
