// Package envoy renders the Envoy bootstrap configurations kept in this directory from their
// templates, so the shipped files, the demo and the integration tests share one source.
package envoy

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Version is the Envoy release the configurations are written and tested against.
const Version = "1.40.0"

//go:embed local/envoy.yaml.tmpl
var localTemplate string

// Local is the local-mode bootstrap: one listener ("gated") whose requests pass through the
// ext_proc filter to wakegate and then to one app cluster, an optional listener without the
// filter ("direct"), and the admin interface. A port of 0 lets the OS choose (Envoy's admin
// /listeners and --admin-address-path then tell which). The zero value is not usable: start
// from DefaultLocal. Values are plain data and safe to copy.
type Local struct {
	Host         string // address the listeners and admin bind to
	AdminPort    int
	ListenPort   int  // the gated listener
	Direct       bool // also add the "direct" listener (no ext_proc) on DirectPort
	DirectPort   int
	AppHost      string // the app cluster's single endpoint
	AppPort      int
	WakegateHost string // wakegate's ext_proc gRPC address (--envoy-addr)
	WakegatePort int
	// MoreWakegates are further wakegate replicas (their --envoy-addr) in the ext_proc
	// cluster beside WakegateHost:WakegatePort. Envoy sends each request's ext_proc stream
	// to one of them, round robin.
	MoreWakegates []Endpoint
	// WakegateHealthInterval, if not zero, makes Envoy check every wakegate endpoint's
	// gRPC health (grpc.health.v1 on --envoy-addr) at this interval and send new streams
	// only to those SERVING: a draining replica (NOT_SERVING from SIGTERM on) or a dead
	// one takes no new requests, while the requests it holds stay on their open streams.
	WakegateHealthInterval time.Duration

	// FailureModeAllow: true lets requests continue to the app when wakegate fails
	// (fail-open); false makes Envoy answer them with an error (fail-closed).
	FailureModeAllow bool
	// MessageTimeout bounds each ext_proc message, so it must exceed the longest hold.
	MessageTimeout time.Duration
	// MaxMessageTimeout, if not zero, allows wakegate's override_message_timeout up to it.
	MaxMessageTimeout time.Duration
	// RouteTimeout is the app route's timeout (Envoy's default is 15s).
	RouteTimeout time.Duration
	// StreamIdleTimeout is the gated listener's HCM stream_idle_timeout.
	StreamIdleTimeout time.Duration
	// SendResponseHeaders sends response headers to wakegate too (response_header_mode
	// SEND): two round trips per request, and a stream that lasts until the response.
	SendResponseHeaders bool
	// GRPCTimeout, if not zero, sets the ext_proc grpc_service timeout (unset by default).
	GRPCTimeout time.Duration
	// KeepaliveInterval is how often Envoy pings its HTTP/2 connections to wakegate
	// (30s by default; wakegate accepts pings every 10s or slower).
	KeepaliveInterval time.Duration
}

// Endpoint is a host and port Envoy connects to.
type Endpoint struct {
	Host string
	Port int
}

// DefaultLocal returns the configuration of envoy/local/envoy.yaml: listener 10000, admin
// 9901, app 18080, wakegate 9001, fail-open, a 65s message timeout for wakegate's default
// 60s hold.
func DefaultLocal() Local {
	return Local{
		Host: "127.0.0.1", AdminPort: 9901, ListenPort: 10000,
		AppHost: "127.0.0.1", AppPort: 18080, WakegateHost: "127.0.0.1", WakegatePort: 9001,
		FailureModeAllow:  true,
		MessageTimeout:    65 * time.Second,
		RouteTimeout:      15 * time.Second,
		StreamIdleTimeout: 5 * time.Minute,
		KeepaliveInterval: 30 * time.Second,
	}
}

// Validate reports every field that cannot make a working bootstrap, by name.
func (l Local) Validate() error {
	const what = "envoy local bootstrap"
	errs := checkPorts(what, []namedInt{{"AdminPort", l.AdminPort}, {"ListenPort", l.ListenPort}, {"DirectPort", l.DirectPort},
		{"AppPort", l.AppPort}, {"WakegatePort", l.WakegatePort}})
	errs = append(errs, checkHosts(what, []namedString{{"Host", l.Host}, {"AppHost", l.AppHost}, {"WakegateHost", l.WakegateHost}})...)
	if l.AppPort == 0 || l.WakegatePort == 0 {
		errs = append(errs, errors.New("envoy local bootstrap: AppPort and WakegatePort must be set (the OS cannot choose them for Envoy)"))
	}
	errs = append(errs, checkEndpoints(what, "MoreWakegates", l.MoreWakegates)...)
	if l.MessageTimeout < 0 || l.MaxMessageTimeout < 0 || l.RouteTimeout < 0 || l.StreamIdleTimeout < 0 || l.GRPCTimeout < 0 ||
		l.WakegateHealthInterval < 0 {
		errs = append(errs, errors.New("envoy local bootstrap: timeouts must not be negative"))
	}
	if l.KeepaliveInterval < time.Second {
		errs = append(errs, fmt.Errorf("envoy local bootstrap: KeepaliveInterval %v must be at least 1s", l.KeepaliveInterval))
	}
	if l.MaxMessageTimeout != 0 && l.MaxMessageTimeout < l.MessageTimeout {
		errs = append(errs, fmt.Errorf("envoy local bootstrap: MaxMessageTimeout %v is below MessageTimeout %v", l.MaxMessageTimeout, l.MessageTimeout))
	}
	return errors.Join(errs...)
}

// namedInt and namedString pair a field's name with its value, for error messages.
type namedInt struct {
	name string
	v    int
}

type namedString struct{ name, v string }

// checkPorts reports each port outside 0-65535; what names the bootstrap.
func checkPorts(what string, ports []namedInt) []error {
	var errs []error
	for _, p := range ports {
		if p.v < 0 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s: %s %d out of range 0-65535", what, p.name, p.v))
		}
	}
	return errs
}

// checkEndpoints reports each endpoint of the list field whose host or port is unusable
// (the OS cannot choose a port Envoy connects to).
func checkEndpoints(what, field string, eps []Endpoint) []error {
	var errs []error
	for i, ep := range eps {
		name := fmt.Sprintf("%s[%d]", field, i)
		errs = append(errs, checkHosts(what, []namedString{{name + ".Host", ep.Host}})...)
		if ep.Port < 1 || ep.Port > 65535 {
			errs = append(errs, fmt.Errorf("%s: %s.Port %d out of range 1-65535", what, name, ep.Port))
		}
	}
	return errs
}

// checkHosts reports each host that is empty or holds characters YAML flow syntax or an
// address cannot contain; what names the bootstrap.
func checkHosts(what string, hosts []namedString) []error {
	var errs []error
	for _, h := range hosts {
		if h.v == "" || strings.ContainsAny(h.v, " \t\n{}:,") {
			errs = append(errs, fmt.Errorf("%s: %s %q is not an IP address or host name", what, h.name, h.v))
		}
	}
	return errs
}

// RenderLocal writes l as an Envoy bootstrap YAML to w.
func RenderLocal(w io.Writer, l Local) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return render(w, "local/envoy.yaml.tmpl", localTemplate, struct {
		Local
		EnvoyVersion string
		// HealthTimeout is each wakegate health check's timeout: the interval, at most 1s.
		HealthTimeout time.Duration
	}{l, Version, min(l.WakegateHealthInterval, time.Second)})
}

// render executes the template text, named by its path under envoy/ for messages, with
// data. Templates get the functions dur (Duration) and quote (a double-quoted string).
func render(w io.Writer, path, text string, data any) error {
	t, err := template.New(path).Option("missingkey=error").
		Funcs(template.FuncMap{"dur": Duration, "quote": strconv.Quote}).Parse(text)
	if err != nil {
		return fmt.Errorf("parse envoy/%s: %w", path, err)
	}
	if err := t.Execute(w, data); err != nil {
		return fmt.Errorf("render envoy/%s: %w", path, err)
	}
	return nil
}

// Duration formats d as a protobuf JSON duration ("65s", "0.25s"), the form Envoy's YAML
// takes.
func Duration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
