// Package route maps a request (authority, path, headers) to at most one target.
//
// A Table is immutable once built and safe for concurrent use; replace it as a whole
// (see Router) when the configuration changes.
package route

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Rule says which requests belong to a target.
type Rule struct {
	// Target is the name the request maps to.
	Target string
	// Hosts are exact host names ("app.example.com"), leading wildcards ("*.example.com",
	// matching any non-empty label sequence before ".example.com"), optionally with a port
	// ("localhost:10000"). A host without a port matches any port.
	Hosts []string
	// PathPrefixes default to ["/"]. The most specific host decides first (exact host with
	// port, exact host, then wildcards by longest suffix, with port before without); among that host's rules whose
	// prefix and headers match, the longest prefix wins, then the rule with more headers.
	// If none of them match, the next less specific host is tried.
	PathPrefixes []string
	// Headers must all be present with exactly these values. Names are case-insensitive.
	Headers map[string]string
}

// Headers gives read access to request headers. Names passed to Get are lower case.
type Headers interface {
	Get(name string) (string, bool)
}

// Request is what routing looks at.
type Request struct {
	Authority string // host[:port], as in HTTP/2 :authority or HTTP/1 Host
	Path      string // request path; a query string is ignored
	Headers   Headers
}

type entry struct {
	target  string
	prefix  string
	headers [][2]string // lower-case name, value
	order   int         // rule index, for stable tie breaks
}

// Table is a compiled, immutable set of rules.
type Table struct {
	exact    map[string][]entry // host or host:port → entries, longest prefix first
	wildcard map[string][]entry // ".example.com" → entries
	wildPort map[string][]entry // ".example.com:8080" → entries
}

// New compiles rules into a Table. It returns every problem found, each naming the target.
func New(rules []Rule) (*Table, error) {
	t := &Table{exact: map[string][]entry{}, wildcard: map[string][]entry{}, wildPort: map[string][]entry{}}
	seen := map[string]string{}
	var errs []error
	for i, r := range rules {
		if err := validateRule(r); err != nil {
			errs = append(errs, fmt.Errorf("target %q: %w", r.Target, err))
			continue
		}
		prefixes := r.PathPrefixes
		if len(prefixes) == 0 {
			prefixes = []string{"/"}
		}
		hdrs := compileHeaders(r.Headers)
		for _, h := range r.Hosts {
			h = strings.ToLower(h)
			for _, p := range prefixes {
				key := h + "\x00" + p + "\x00" + headerKey(hdrs)
				if other, dup := seen[key]; dup {
					errs = append(errs, fmt.Errorf("target %q: host %q path prefix %q is already claimed by target %q", r.Target, h, p, other))
					continue
				}
				seen[key] = r.Target
				e := entry{target: r.Target, prefix: p, headers: hdrs, order: i}
				if strings.HasPrefix(h, "*.") {
					w := t.wildcard
					if strings.Contains(h, ":") {
						w = t.wildPort
					}
					w[h[1:]] = append(w[h[1:]], e)
				} else {
					t.exact[h] = append(t.exact[h], e)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, m := range []map[string][]entry{t.exact, t.wildcard, t.wildPort} {
		for _, es := range m {
			sortEntries(es)
		}
	}
	return t, nil
}

// sortEntries orders longest prefix first; among equal prefixes, rules with more header
// conditions first (more specific), then rule order.
func sortEntries(es []entry) {
	sort.SliceStable(es, func(i, j int) bool {
		if len(es[i].prefix) != len(es[j].prefix) {
			return len(es[i].prefix) > len(es[j].prefix)
		}
		if len(es[i].headers) != len(es[j].headers) {
			return len(es[i].headers) > len(es[j].headers)
		}
		return es[i].order < es[j].order
	})
}

func compileHeaders(h map[string]string) [][2]string {
	if len(h) == 0 {
		return nil
	}
	out := make([][2]string, 0, len(h))
	for k, v := range h {
		out = append(out, [2]string{strings.ToLower(k), v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// headerKey encodes h unambiguously (values may contain any separator) for duplicate checks.
func headerKey(h [][2]string) string {
	var b strings.Builder
	for _, kv := range h {
		b.WriteString(strconv.Quote(kv[0]) + "=" + strconv.Quote(kv[1]) + ";")
	}
	return b.String()
}

// Match returns the target for req and true, or "" and false when no rule matches.
// It does not allocate for hosts already in lower case.
func (t *Table) Match(req Request) (string, bool) {
	if t == nil {
		return "", false
	}
	host := lowerASCII(req.Authority)
	hostOnly, hasPort := stripPort(host)
	path := stripQuery(req.Path)
	if es, ok := t.exact[host]; ok && hasPort {
		if tgt, ok := matchEntries(es, path, req.Headers); ok {
			return tgt, true
		}
	}
	if es, ok := t.exact[hostOnly]; ok {
		if tgt, ok := matchEntries(es, path, req.Headers); ok {
			return tgt, true
		}
	}
	// Wildcards: the longest suffix first, walking the dots of the host name; at each
	// suffix a rule with a port ("*.example.com:8080") comes before one without.
	for i := 1; i < len(hostOnly); i++ {
		if hostOnly[i] != '.' {
			continue
		}
		if hasPort {
			if es, ok := t.wildPort[host[i:]]; ok {
				if tgt, ok := matchEntries(es, path, req.Headers); ok {
					return tgt, true
				}
			}
		}
		if es, ok := t.wildcard[hostOnly[i:]]; ok {
			if tgt, ok := matchEntries(es, path, req.Headers); ok {
				return tgt, true
			}
		}
	}
	return "", false
}

func matchEntries(es []entry, path string, h Headers) (string, bool) {
	for i := range es {
		e := &es[i]
		if !strings.HasPrefix(path, e.prefix) {
			continue
		}
		if headersMatch(e.headers, h) {
			return e.target, true
		}
	}
	return "", false
}

func headersMatch(want [][2]string, h Headers) bool {
	for _, kv := range want {
		if h == nil {
			return false
		}
		v, ok := h.Get(kv[0])
		if !ok || v != kv[1] {
			return false
		}
	}
	return true
}

// stripPort splits "host:port" (or "[v6]:port"); it reports whether a port was present.
func stripPort(h string) (string, bool) {
	i := strings.LastIndexByte(h, ':')
	if i < 0 {
		return h, false
	}
	if strings.HasPrefix(h, "[") { // "[v6]" or "[v6]:port"; anything else is kept whole
		if j := strings.IndexByte(h, ']'); j >= 0 && j+1 < len(h) && h[j+1] == ':' {
			return h[:j+1], true
		}
		return h, false
	}
	if strings.IndexByte(h[:i], ':') >= 0 { // bare IPv6 literal, no port
		return h, false
	}
	return h[:i], true
}

func stripQuery(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

// lowerASCII lower-cases ASCII letters only, as host names compare; other bytes are kept
// (strings.ToLower would also fold e.g. the Kelvin sign into "k"). It allocates only if
// s has an upper-case ASCII letter.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}
