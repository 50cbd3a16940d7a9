package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// WakegateOptions describe a `wakegate local` to start.
type WakegateOptions struct {
	Bin    string
	Config LocalConfig // written to Dir/wakegate.yaml
	Args   []string    // more flags, after the harness's own (a repeated flag overrides)
	Dir    string      // for the config, the ports file and the log; required
	Name   string      // for messages and file names; "wakegate" if empty
}

// Ports are the addresses wakegate bound, from its --ports-file.
type Ports struct {
	Envoy  string `json:"envoy"`
	Admin  string `json:"admin"`
	Scaler string `json:"scaler"`
	Peer   string `json:"peer"`
}

// Wakegate is a running `wakegate local` whose ports are known.
type Wakegate struct {
	*Process
	Ports      Ports
	ConfigPath string
}

// WakegateArgs are the flags the harness passes before opts.Args: OS-chosen loopback
// ports, the ports file, JSON debug logs and no shutdown delay.
func WakegateArgs(configPath, portsPath string) []string {
	return []string{"local", "--config", configPath, "--ports-file", portsPath,
		"--envoy-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--scaler-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "debug", "--shutdown-delay", "0s"}
}

// StartWakegate writes the config, starts wakegate and waits until its ports file exists
// and /readyz answers 200. On error nothing is left running. The caller must call Stop.
func StartWakegate(ctx context.Context, opts WakegateOptions) (*Wakegate, error) {
	if opts.Name == "" {
		opts.Name = "wakegate"
	}
	cfg := filepath.Join(opts.Dir, opts.Name+".yaml")
	if err := opts.Config.WriteFile(cfg); err != nil {
		return nil, fmt.Errorf("start %s: %w", opts.Name, err)
	}
	ports := filepath.Join(opts.Dir, opts.Name+".ports.json")
	if err := os.Remove(ports); err != nil && !errors.Is(err, fs.ErrNotExist) { // a stale file would name old ports
		return nil, fmt.Errorf("start %s: %w", opts.Name, err)
	}
	p, err := StartProcess(ProcessOptions{Name: opts.Name, Path: opts.Bin, LogPath: filepath.Join(opts.Dir, opts.Name+".log"),
		Args: append(WakegateArgs(cfg, ports), opts.Args...)})
	if err != nil {
		return nil, err
	}
	w := &Wakegate{Process: p, ConfigPath: cfg}
	if err := w.awaitStart(ctx, ports); err != nil {
		_ = p.Stop(StopGrace)
		return nil, fmt.Errorf("start %s: %w\n%s", opts.Name, err, tail(p.Log(), 30))
	}
	return w, nil
}

// WakegateForTest starts wakegate for t and stops it in t.Cleanup (which fails t unless
// wakegate exits 0 after SIGTERM). Dir defaults to t.TempDir().
func WakegateForTest(t TB, opts WakegateOptions) *Wakegate {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), StartTimeout)
	defer cancel()
	w, err := StartWakegate(ctx, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	w.stopOnCleanup(t)
	return w
}

func (w *Wakegate) awaitStart(ctx context.Context, portsPath string) error {
	return Poll(ctx, func() (bool, error) {
		select {
		case <-w.Done():
			return false, GiveUp(fmt.Errorf("%w: %v", errExited, w.ExitErr()))
		default:
		}
		if w.Ports.Admin == "" {
			b, err := os.ReadFile(portsPath)
			if err != nil {
				return false, err
			}
			if err := json.Unmarshal(b, &w.Ports); err != nil {
				return false, fmt.Errorf("%s: %w", portsPath, err)
			}
		}
		_, err := httpGet(ctx, w.AdminURL()+"/readyz")
		return err == nil, err
	})
}

// AdminURL returns the base URL of wakegate's admin interface.
func (w *Wakegate) AdminURL() string { return "http://" + w.Ports.Admin }

// TargetStatus is one row of wakegate's /status.
type TargetStatus struct {
	Name          string     `json:"name"`
	State         string     `json:"state"` // idle, waking or ready
	Ready         bool       `json:"ready"`
	Held          int64      `json:"held"`
	InFlight      int64      `json:"inFlight"`
	RequestsTotal uint64     `json:"requestsTotal"`
	RequestRate   float64    `json:"requestRate"`
	Wakeups       uint64     `json:"wakeups"`
	LastSeen      *time.Time `json:"lastSeen"`
}

// Status fetches /status.
func (w *Wakegate) Status(ctx context.Context) ([]TargetStatus, error) {
	var doc struct {
		Targets []TargetStatus `json:"targets"`
	}
	err := httpGetJSON(ctx, w.AdminURL()+"/status", &doc)
	return doc.Targets, err
}

// Target fetches the /status row of the named target.
func (w *Wakegate) Target(ctx context.Context, name string) (TargetStatus, error) {
	ts, err := w.Status(ctx)
	if err != nil {
		return TargetStatus{}, err
	}
	for _, t := range ts {
		if t.Name == name {
			return t, nil
		}
	}
	return TargetStatus{}, fmt.Errorf("/status has no target %q", name)
}

// AwaitTarget polls /status until cond holds for the named target or ctx ends.
func (w *Wakegate) AwaitTarget(ctx context.Context, name string, cond func(TargetStatus) bool) (TargetStatus, error) {
	var last TargetStatus
	err := Poll(ctx, func() (bool, error) {
		ts, err := w.Target(ctx, name)
		if err != nil {
			return false, err
		}
		last = ts
		return cond(ts), fmt.Errorf("last status %+v", ts)
	})
	return last, err
}

// Metrics fetches and parses /metrics.
func (w *Wakegate) Metrics(ctx context.Context) (Metrics, error) {
	body, err := httpGet(ctx, w.AdminURL()+"/metrics")
	if err != nil {
		return Metrics{}, err
	}
	return ParseMetrics(body)
}
