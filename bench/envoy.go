package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

//go:embed envoy.yaml.tmpl
var envoyTemplate string

// Listener names of the benchmark bootstrap, one per mode.
const (
	listenerDirect   = "direct"
	listenerExtProc  = "extproc"
	listenerExtAuthz = "extauthz"
)

// envoyListener is one listener of the bootstrap; Filter is "", "ext_proc" or "ext_authz".
type envoyListener struct {
	Name   string
	Filter string
}

// envoyConfig is the data of envoy.yaml.tmpl. Plain data, safe to copy.
type envoyConfig struct {
	AppPort      int
	WakegatePort int
	// HoldBudget is the ext_proc message_timeout and the ext_authz timeout: it must exceed
	// the targets' holdTimeout so wakegate, not Envoy, ends a hold.
	HoldBudget        time.Duration
	StreamIdleTimeout time.Duration // HCM stream_idle_timeout; above HoldBudget
	RouteTimeout      time.Duration
	AppConnections    int // the app cluster's max_connections (HTTP/1: one per request in flight)
	MaxRequests       int // max_requests and max_pending_requests on both clusters
}

// benchListeners are the three modes compared, in the order they are reported.
var benchListeners = []envoyListener{
	{Name: listenerDirect},
	{Name: listenerExtProc, Filter: "ext_proc"},
	{Name: listenerExtAuthz, Filter: "ext_authz"},
}

// newEnvoyConfig returns the configuration for an app and a wakegate on loopback ports, for
// holds of up to holdTimeout.
func newEnvoyConfig(appPort, wakegatePort int, holdTimeout time.Duration) envoyConfig {
	return envoyConfig{
		AppPort: appPort, WakegatePort: wakegatePort,
		HoldBudget:        holdTimeout + 10*time.Second,
		StreamIdleTimeout: holdTimeout + 60*time.Second,
		RouteTimeout:      15 * time.Second,
		AppConnections:    1024,
		MaxRequests:       100000,
	}
}

// validate reports every field that cannot make a working bootstrap.
func (c envoyConfig) validate() error {
	var errs []error
	for _, p := range []struct {
		name string
		v    int
	}{{"AppPort", c.AppPort}, {"WakegatePort", c.WakegatePort}} {
		if p.v <= 0 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("envoy bench config: %s %d out of range 1-65535", p.name, p.v))
		}
	}
	if c.HoldBudget <= 0 || c.StreamIdleTimeout <= c.HoldBudget || c.RouteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("envoy bench config: want 0 < HoldBudget (%v) < StreamIdleTimeout (%v) and RouteTimeout (%v) > 0",
			c.HoldBudget, c.StreamIdleTimeout, c.RouteTimeout))
	}
	if c.AppConnections < 1 || c.MaxRequests < 1 {
		errs = append(errs, fmt.Errorf("envoy bench config: AppConnections %d and MaxRequests %d must be positive", c.AppConnections, c.MaxRequests))
	}
	return errors.Join(errs...)
}

// renderEnvoy returns the bootstrap YAML for c.
func renderEnvoy(c envoyConfig) (string, error) {
	if err := c.validate(); err != nil {
		return "", err
	}
	t, err := template.New("envoy.yaml.tmpl").Option("missingkey=error").
		Funcs(template.FuncMap{"dur": envoy.Duration}).Parse(envoyTemplate)
	if err != nil {
		return "", fmt.Errorf("parse bench/envoy.yaml.tmpl: %w", err)
	}
	data := struct {
		envoyConfig
		Listeners    []envoyListener
		EnvoyVersion string
	}{c, benchListeners, envoy.Version}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("render bench/envoy.yaml.tmpl: %w", err)
	}
	return buf.String(), nil
}

// envoyStartOptions say how to start the benchmark's Envoy.
type envoyStartOptions struct {
	Bin         string
	Dir         string // for the config, its validation copy and the log
	Name        string // file names and messages
	Concurrency int    // Envoy worker threads
	Config      envoyConfig
}

// startEnvoy renders the bootstrap, checks it with `envoy --mode validate` and starts Envoy.
// The caller must Stop the returned Envoy.
func startEnvoy(ctx context.Context, o envoyStartOptions) (*harness.Envoy, error) {
	yaml, err := renderEnvoy(o.Config)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(o.Dir, o.Name+".validate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := harness.ValidateEnvoyConfig(ctx, o.Bin, path); err != nil {
		return nil, err
	}
	return harness.StartEnvoy(ctx, harness.EnvoyOptions{Bin: o.Bin, Config: yaml, Dir: o.Dir, Name: o.Name,
		Concurrency: o.Concurrency, LogLevel: "warn"})
}
