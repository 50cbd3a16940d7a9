package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

// FieldError is one problem with one field of a configuration.
type FieldError struct {
	File  string // the configuration file; may be empty
	Field string // path of the field, e.g. "targets[1].readiness.interval"; may be empty
	Msg   string // what is wrong, quoting the value
}

func (e *FieldError) Error() string {
	var b strings.Builder
	for _, part := range []string{e.File, e.Field} {
		if part != "" {
			b.WriteString(part + ": ")
		}
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Validate returns every problem with c, each a *FieldError naming the field and value.
// It also checks that process directories exist and that the targets' routes compile
// together (no two targets claim the same host, path prefix and headers).
func (c *Local) Validate() []error {
	p := &parser{file: c.File}
	if len(c.Targets) == 0 {
		p.fail("targets", "at least one target is required")
	}
	names := map[string]int{}
	for i, t := range c.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		if j, dup := names[t.Name]; dup && t.Name != "" {
			p.fail(path+".name", "duplicate name %q, also used by targets[%d]", t.Name, j)
		} else {
			names[t.Name] = i
		}
		t.validate(p, path)
	}
	c.validateRoutes(p)
	return p.errs
}

func (t *LocalTarget) validate(p *parser, path string) {
	validateName(p, path+".name", t.Name)
	validateMatch(p, path+".match", t.Match)
	validateProcess(p, path+".process", t.Process)
	validateReadiness(p, path+".readiness", t.Readiness)
	positive(p, path+".idleTimeout", t.IdleTimeout)
	positive(p, path+".holdTimeout", t.HoldTimeout)
	if t.StopGracePeriod < 0 {
		p.fail(path+".stopGracePeriod", "must not be negative, got %q", t.StopGracePeriod.String())
	}
	if t.MaxHeld < 1 {
		p.fail(path+".maxHeld", "must be at least 1, got %d", t.MaxHeld)
	}
	if _, err := gate.ParseWaitingPage(t.WaitingPage.String()); err != nil || t.WaitingPage > gate.PageOff || t.WaitingPage < 0 {
		p.fail(path+".waitingPage", "unknown value %d", int(t.WaitingPage))
	}
}

func positive(p *parser, field string, d time.Duration) {
	if d <= 0 {
		p.fail(field, "must be positive, got %q", d.String())
	}
}

func validateName(p *parser, field, name string) {
	if name == "" {
		p.fail(field, "is required")
		return
	}
	ok := len(name) <= 63 && name[0] != '-'
	for _, c := range name {
		ok = ok && (c == '-' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9')
	}
	if !ok {
		p.fail(field, `want at most 63 of a-z, 0-9 and "-", starting with a letter or digit, got %q`, name)
	}
}

func validateMatch(p *parser, path string, m Match) {
	if len(m.Hosts) == 0 {
		p.fail(path+".hosts", "at least one host is required")
	}
	for i, h := range m.Hosts {
		if err := route.ValidateHost(h); err != nil {
			p.fail(fmt.Sprintf("%s.hosts[%d]", path, i), "%v", err)
		}
	}
	for i, pre := range m.PathPrefixes {
		if !strings.HasPrefix(pre, "/") {
			p.fail(fmt.Sprintf("%s.pathPrefixes[%d]", path, i), `must start with "/", got %q`, pre)
		}
	}
	lower := map[string]string{}
	for _, k := range sortedKeys(m.Headers) {
		if k == "" || strings.ContainsAny(k, " \t\r\n") || strings.Contains(k[1:], ":") { // ":path" is fine
			p.fail(path+".headers", "invalid header name %q", k)
		}
		if other, dup := lower[strings.ToLower(k)]; dup {
			p.fail(path+".headers", "header names %q and %q are the same (names are case-insensitive)", other, k)
		}
		lower[strings.ToLower(k)] = k
	}
}

func validateProcess(p *parser, path string, pr Process) {
	switch {
	case len(pr.Command) == 0:
		p.fail(path+".command", "is required")
	case pr.Command[0] == "":
		p.fail(path+".command[0]", "must not be empty")
	}
	if pr.Dir != "" {
		if fi, err := os.Stat(pr.Dir); err != nil || !fi.IsDir() {
			p.fail(path+".dir", "%q is not a directory", pr.Dir)
		}
	}
	for _, k := range sortedKeys(pr.Env) {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(pr.Env[k], 0) {
			p.fail(path+".env", "invalid variable %q", k)
		}
	}
}

func validateReadiness(p *parser, path string, r Readiness) {
	switch {
	case r.HTTP != "" && r.TCP != "":
		p.fail(path, "set only one of http and tcp, got both %q and %q", r.HTTP, r.TCP)
	case r.HTTP != "":
		if u, err := url.Parse(r.HTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.fail(path+".http", "want an http:// or https:// URL, got %q", r.HTTP)
		}
	case r.TCP != "":
		if !validHostPort(r.TCP) {
			p.fail(path+".tcp", "want host:port, got %q", r.TCP)
		}
	default:
		p.fail(path, "one of http and tcp is required")
	}
	positive(p, path+".interval", r.Interval)
}

func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}

// validateRoutes compiles the routes of the targets whose names and match blocks are valid.
// When they conflict, it finds the first target of each conflict by adding them one at a
// time, so the message can name its index.
func (c *Local) validateRoutes(p *parser) {
	var rules []route.Rule
	var paths []string
	seen := map[string]bool{}
	for i, t := range c.Targets {
		check := &parser{}
		validateName(check, "", t.Name)
		validateMatch(check, "", t.Match)
		if len(check.errs) > 0 || seen[t.Name] {
			continue
		}
		seen[t.Name] = true
		rules = append(rules, t.rule())
		paths = append(paths, fmt.Sprintf("targets[%d].match", i))
	}
	if _, err := route.New(rules); err == nil {
		return
	}
	var ok []route.Rule
	for i, r := range rules {
		if _, err := route.New(append(ok, r)); err != nil {
			p.fail(paths[i], "%v", err)
			continue
		}
		ok = append(ok, r)
	}
}
