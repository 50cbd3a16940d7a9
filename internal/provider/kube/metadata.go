package kube

import (
	"github.com/wakegate/wakegate/internal/triggermeta"

	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

// TriggerType is the KEDA trigger type that marks a ScaledObject as a wakegate target.
const TriggerType = "external-push"

// Routing keys read from an external-push trigger's metadata. Every other key (scalerAddress,
// the scaler's metric, targetValue, window, activeWithin, …) is ignored here.
const (
	KeyHosts        = "hosts"        // comma-separated exact or "*." wildcard hosts; required
	KeyPathPrefixes = "pathPrefixes" // comma-separated, each starting with "/"; default "/"
	KeyHeaders      = "headers"      // "name=value,name2=value2"; values cannot contain ","
	KeyService      = "service"      // the Service Envoy routes to, in the ScaledObject's namespace; required
	KeyPort         = "port"         // the Service's port name, or an EndpointSlice (target) port number
	KeyHoldTimeout  = "holdTimeout"  // a Go duration > 0; default gate.DefaultHoldTimeout
	KeyMaxHeld      = "maxHeld"      // an integer ≥ 1; default gate.DefaultMaxHeld
	KeyWaitingPage  = "waitingPage"  // onTimeout (default), immediate or off
)

// routingKeys are the keys whose presence makes an external-push trigger wakegate's.
var routingKeys = []string{KeyHosts, KeyPathPrefixes, KeyHeaders, KeyService, KeyPort}

// Routing is one ScaledObject's wakegate settings, parsed from its trigger's metadata.
type Routing struct {
	Hosts        []string          // validated with route.ValidateHost; no duplicates
	PathPrefixes []string          // never empty
	Headers      map[string]string // nil when the key is absent
	Service      string            // a DNS-1035 label
	Port         string            // "" (any port), a port name, or a number 1-65535
	Policy       gate.Policy       // HoldTimeout > 0, MaxHeld ≥ 1
}

// MetadataError says which trigger metadata key holds which unusable value, and why.
type MetadataError = triggermeta.Error

// IsRouting reports whether md, an external-push trigger's metadata, holds any routing key.
func IsRouting(md map[string]string) bool {
	return slices.ContainsFunc(routingKeys, func(k string) bool { _, ok := md[k]; return ok })
}

// ParseRouting reads a Routing from md. Absent optional keys take their defaults; an empty
// or malformed value is an error, never a default. It returns every problem found, each a
// *MetadataError naming the key and value, joined in key order. It is pure and safe for
// concurrent use.
func ParseRouting(md map[string]string) (Routing, error) {
	r := Routing{PathPrefixes: []string{"/"}, Policy: gate.Policy{HoldTimeout: gate.DefaultHoldTimeout, MaxHeld: gate.DefaultMaxHeld}}
	fields := []struct {
		key      string
		required bool
		parse    func(string) string // returns the reason the value is unusable, or ""
	}{
		{KeyHosts, true, func(v string) (why string) { r.Hosts, why = parseHosts(v); return why }},
		{KeyPathPrefixes, false, func(v string) (why string) { r.PathPrefixes, why = parsePrefixes(v); return why }},
		{KeyHeaders, false, func(v string) (why string) { r.Headers, why = parseHeaders(v); return why }},
		{KeyService, true, func(v string) (why string) { r.Service, why = parseService(v); return why }},
		{KeyPort, false, func(v string) (why string) { r.Port, why = parsePort(v); return why }},
		{KeyHoldTimeout, false, func(v string) (why string) { r.Policy.HoldTimeout, why = parseHoldTimeout(v); return why }},
		{KeyMaxHeld, false, func(v string) (why string) { r.Policy.MaxHeld, why = parseMaxHeld(v); return why }},
		{KeyWaitingPage, false, func(v string) (why string) { r.Policy.WaitingPage, why = parseWaitingPage(v); return why }},
	}
	var errs []error
	for _, f := range fields {
		v, ok := md[f.key]
		switch {
		case !ok && f.required:
			errs = append(errs, &MetadataError{Key: f.key, Value: "", Reason: "is required"})
		case ok:
			if why := f.parse(strings.TrimSpace(v)); why != "" {
				errs = append(errs, &MetadataError{Key: f.key, Value: v, Reason: why})
			}
		}
	}
	if len(errs) > 0 {
		return Routing{}, errors.Join(errs...)
	}
	return r, nil
}

// splitList splits a comma-separated list, trimming spaces; an empty item is an error.
func splitList(v string) ([]string, string) {
	if v == "" {
		return nil, "is empty"
	}
	items := strings.Split(v, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
		if items[i] == "" {
			return nil, fmt.Sprintf("has an empty item at position %d", i+1)
		}
	}
	return items, ""
}

func parseHosts(v string) ([]string, string) {
	hosts, why := splitList(v)
	if why != "" {
		return nil, why
	}
	seen := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		if err := route.ValidateHost(h); err != nil {
			return nil, "is invalid: " + err.Error()
		}
		if seen[strings.ToLower(h)] {
			return nil, fmt.Sprintf("lists host %q twice", h)
		}
		seen[strings.ToLower(h)] = true
	}
	return hosts, ""
}

func parsePrefixes(v string) ([]string, string) {
	prefixes, why := splitList(v)
	if why != "" {
		return nil, why
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Sprintf("has %q, which does not start with \"/\"", p)
		}
		if slices.Contains(prefixes[:i], p) {
			return nil, fmt.Sprintf("lists %q twice", p)
		}
	}
	return prefixes, ""
}

// parseHeaders reads "name=value" pairs. A pseudo-header name may start with ":"; no other
// ":" or space is allowed in a name. Names are case-insensitive, so "A" and "a" clash.
func parseHeaders(v string) (map[string]string, string) {
	pairs, why := splitList(v)
	if why != "" {
		return nil, why
	}
	out := make(map[string]string, len(pairs))
	lower := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		switch bare := strings.TrimPrefix(name, ":"); {
		case !ok:
			return nil, fmt.Sprintf("has %q, which is not name=value", p)
		case bare == "" || strings.ContainsAny(bare, " \t\r\n:"):
			return nil, fmt.Sprintf("has invalid header name %q", name)
		case lower[strings.ToLower(name)]:
			return nil, fmt.Sprintf("names header %q twice (names are case-insensitive)", name)
		}
		lower[strings.ToLower(name)] = true
		out[name] = strings.TrimSpace(value)
	}
	return out, ""
}

func parseService(v string) (string, string) {
	if v == "" {
		return "", "is empty"
	}
	if msgs := validation.IsDNS1035Label(v); len(msgs) > 0 {
		return "", "is not a valid Service name: " + strings.Join(msgs, "; ")
	}
	return v, ""
}

// parsePort accepts a port name (IANA service name syntax, as Service ports use) or a
// number 1-65535.
func parsePort(v string) (string, string) {
	if v == "" {
		return "", "is empty"
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 65535 {
			return "", "is not a port number 1-65535"
		}
		return strconv.Itoa(n), ""
	}
	if msgs := validation.IsValidPortName(v); len(msgs) > 0 {
		return "", "is neither a port number nor a valid port name: " + strings.Join(msgs, "; ")
	}
	return v, ""
}

func parseHoldTimeout(v string) (time.Duration, string) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, `is not a duration (such as "60s" or "2m")`
	case d <= 0:
		return 0, "must be positive"
	}
	return d, ""
}

func parseMaxHeld(v string) (int, string) {
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return 0, "is not an integer"
	case n < 1:
		return 0, "must be at least 1"
	}
	return n, ""
}

func parseWaitingPage(v string) (gate.WaitingPage, string) {
	if v == "" {
		return 0, "is empty"
	}
	w, err := gate.ParseWaitingPage(v)
	if err != nil {
		return 0, "is not one of onTimeout, immediate, off"
	}
	return w, ""
}

// rule is r's routing rule for the target named name.
func (r Routing) rule(name string) route.Rule {
	return route.Rule{Target: name, Hosts: r.Hosts, PathPrefixes: r.PathPrefixes, Headers: r.Headers}
}
