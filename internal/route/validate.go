package route

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

func validateRule(r Rule) error {
	var errs []error
	if r.Target == "" {
		errs = append(errs, errors.New("target name is empty"))
	}
	if len(r.Hosts) == 0 {
		errs = append(errs, errors.New("hosts: at least one host is required"))
	}
	for _, h := range r.Hosts {
		if err := ValidateHost(h); err != nil {
			errs = append(errs, fmt.Errorf("hosts: %w", err))
		}
	}
	for _, p := range r.PathPrefixes {
		if !strings.HasPrefix(p, "/") {
			errs = append(errs, fmt.Errorf("pathPrefixes: %q must start with \"/\"", p))
		}
	}
	lower := make(map[string]string, len(r.Headers))
	for k := range r.Headers {
		// A pseudo-header (":method") may start with ":"; no other ":" or space is allowed.
		if name := strings.TrimPrefix(k, ":"); name == "" || strings.ContainsAny(name, " \t\r\n:") {
			errs = append(errs, fmt.Errorf("headers: invalid header name %q", k))
		}
		if other, dup := lower[strings.ToLower(k)]; dup {
			errs = append(errs, fmt.Errorf("headers: %q and %q are the same header (names are case-insensitive)", min(k, other), max(k, other)))
		}
		lower[strings.ToLower(k)] = k
	}
	return errors.Join(errs...)
}

// ValidateHost checks one host pattern: "name", "name:port", "*.suffix" or "*.suffix:port".
func ValidateHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	name, port, hasPort := strings.Cut(h, ":")
	if strings.HasPrefix(h, "[") { // IPv6 literal
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return fmt.Errorf("host %q: unterminated IPv6 literal", h)
		}
		rest := h[end+1:]
		if rest != "" && rest[0] != ':' {
			return fmt.Errorf("host %q: unexpected %q after the IPv6 literal", h, rest)
		}
		name, port, hasPort = h[:end+1], strings.TrimPrefix(rest, ":"), rest != ""
	}
	if hasPort {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("host %q: invalid port %q (want 1-65535)", h, port)
		}
	}
	if strings.HasPrefix(name, "[") {
		if a, err := netip.ParseAddr(name[1 : len(name)-1]); err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("host %q: invalid IPv6 literal %q", h, name)
		}
		return nil
	}
	if name == "" {
		return fmt.Errorf("host %q: empty host name", h)
	}
	if strings.HasPrefix(name, "*") {
		if !strings.HasPrefix(name, "*.") || len(name) < 3 {
			return fmt.Errorf("host %q: a wildcard must be a leading \"*.\" followed by a domain", h)
		}
		name = name[2:]
	}
	for _, c := range name {
		ok := c == '-' || c == '.' || c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
		if !ok {
			return fmt.Errorf("host %q: invalid character %q", h, c)
		}
	}
	if strings.Contains(name, "*") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return fmt.Errorf("host %q: malformed domain", h)
	}
	return nil
}
