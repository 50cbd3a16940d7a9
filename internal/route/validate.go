package route

import (
	"errors"
	"fmt"
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
	for k := range r.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") && !strings.HasPrefix(k, ":") {
			errs = append(errs, fmt.Errorf("headers: invalid header name %q", k))
		}
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
		name, port = h[:end+1], strings.TrimPrefix(h[end+1:], ":")
		hasPort = len(h) > end+1
	}
	if hasPort {
		if port == "" || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
			return fmt.Errorf("host %q: invalid port %q", h, port)
		}
	}
	if strings.HasPrefix(name, "[") {
		return nil
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
