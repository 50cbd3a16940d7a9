package envoy

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

//go:embed ext_authz/envoy.yaml.tmpl
var extAuthzTemplate string

// ExtAuthz is the local-mode bootstrap for wakegate's ext_authz service: one listener
// ("gated") whose requests pass through the ext_authz filter (gRPC, transport V3) to
// wakegate and then to one app cluster, and the admin interface. Requests for a Named
// domain carry the route's ext_authz context extension "wakegate-target"
// (filter.ContextExtensionTarget), which names their target directly; every other request
// is matched by wakegate's own host and path rules. A port of 0 lets the OS choose. The
// zero value is not usable: start from DefaultExtAuthz. Values are plain data and safe to
// copy (copies share Named).
type ExtAuthz struct {
	Host         string // address the listener and admin bind to
	AdminPort    int
	ListenPort   int    // the gated listener
	AppHost      string // the app cluster's single endpoint
	AppPort      int
	WakegateHost string // wakegate's gRPC address (--envoy-addr)
	WakegatePort int

	// Timeout is the ext_authz call's timeout (grpc_service.timeout), hold included; it
	// must be set (Envoy's 200ms default cannot cover a cold start). wakegate ends a hold
	// still running shortly before it with its own 503 (filter.DefaultDeadlineMargin).
	Timeout time.Duration
	// FailureModeAllow: true lets requests continue to the app when the Check call fails
	// (fail-open); false makes Envoy answer them with StatusOnError (fail-closed).
	FailureModeAllow bool
	// StatusOnError is Envoy's answer to a failed Check call when failing closed; 0 leaves
	// Envoy's default, 403.
	StatusOnError int
	// RouteTimeout is the app routes' timeout (Envoy's default is 15s).
	RouteTimeout time.Duration
	// StreamIdleTimeout is the gated listener's HCM stream_idle_timeout.
	StreamIdleTimeout time.Duration
	// Named are the domains whose route names its target in a context extension.
	Named []NamedRoute
}

// NamedRoute is a virtual host whose one route sets the ext_authz context extension
// "wakegate-target" (filter.ContextExtensionTarget) to Target.
type NamedRoute struct {
	Domain string // an Envoy virtual host domain: "named.localhost", "*.example.test"
	Target string // the wakegate target the route's requests belong to
}

// DefaultExtAuthz returns the configuration of envoy/ext_authz/envoy.yaml: listener 10000,
// admin 9901, app 18080, wakegate 9001, fail-open with status 503 when failing closed, a 65s
// ext_authz timeout for wakegate's default 60s hold, and named.localhost routed to the
// demo's target "web".
func DefaultExtAuthz() ExtAuthz {
	return ExtAuthz{
		Host: "127.0.0.1", AdminPort: 9901, ListenPort: 10000,
		AppHost: "127.0.0.1", AppPort: 18080, WakegateHost: "127.0.0.1", WakegatePort: 9001,
		Timeout:           65 * time.Second,
		FailureModeAllow:  true,
		StatusOnError:     503,
		RouteTimeout:      15 * time.Second,
		StreamIdleTimeout: 5 * time.Minute,
		Named:             []NamedRoute{{Domain: "named.localhost", Target: "web"}},
	}
}

// Validate reports every field that cannot make a working bootstrap, by name.
func (a ExtAuthz) Validate() error {
	const what = "envoy ext_authz bootstrap"
	errs := checkPorts(what, []namedInt{{"AdminPort", a.AdminPort}, {"ListenPort", a.ListenPort},
		{"AppPort", a.AppPort}, {"WakegatePort", a.WakegatePort}})
	errs = append(errs, checkHosts(what, []namedString{{"Host", a.Host}, {"AppHost", a.AppHost}, {"WakegateHost", a.WakegateHost}})...)
	if a.AppPort == 0 || a.WakegatePort == 0 {
		errs = append(errs, errors.New("envoy ext_authz bootstrap: AppPort and WakegatePort must be set (the OS cannot choose them for Envoy)"))
	}
	if a.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("envoy ext_authz bootstrap: Timeout %v must be positive (Envoy's 200ms default cannot cover a hold)", a.Timeout))
	}
	if a.RouteTimeout < 0 || a.StreamIdleTimeout < 0 {
		errs = append(errs, errors.New("envoy ext_authz bootstrap: RouteTimeout and StreamIdleTimeout must not be negative"))
	}
	if a.StatusOnError != 0 && (a.StatusOnError < 200 || a.StatusOnError > 599) {
		errs = append(errs, fmt.Errorf("envoy ext_authz bootstrap: StatusOnError %d is not an HTTP status (200-599, or 0 for Envoy's 403)", a.StatusOnError))
	}
	return errors.Join(append(errs, checkNamed(a.Named)...)...)
}

// checkNamed reports empty, duplicate or unquotable domains and targets.
func checkNamed(named []NamedRoute) []error {
	var errs []error
	seen := make(map[string]bool, len(named))
	for i, n := range named {
		switch {
		case !plainToken(n.Domain):
			errs = append(errs, fmt.Errorf("envoy ext_authz bootstrap: Named[%d].Domain %q is not a domain", i, n.Domain))
		case n.Domain == "*":
			errs = append(errs, fmt.Errorf("envoy ext_authz bootstrap: Named[%d].Domain \"*\" would take every request (the catch-all virtual host has it)", i))
		case seen[n.Domain]:
			errs = append(errs, fmt.Errorf("envoy ext_authz bootstrap: Named[%d].Domain %q is listed twice", i, n.Domain))
		}
		seen[n.Domain] = true
		if !plainToken(n.Target) {
			errs = append(errs, fmt.Errorf("envoy ext_authz bootstrap: Named[%d].Target %q is not a target name", i, n.Target))
		}
	}
	return errs
}

// plainToken reports whether s is non-empty printable ASCII without spaces, quotes or
// backslashes, so it is a valid domain or name once quoted.
func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return !strings.ContainsAny(s, `"'\`)
}

// RenderExtAuthz writes a as an Envoy bootstrap YAML to w.
func RenderExtAuthz(w io.Writer, a ExtAuthz) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return render(w, "ext_authz/envoy.yaml.tmpl", extAuthzTemplate, struct {
		ExtAuthz
		EnvoyVersion string
	}{a, Version})
}
