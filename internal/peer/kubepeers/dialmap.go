package kubepeers

import (
	"fmt"
	"net"
	"strings"
)

// ParseDialMap parses "from=to,from=to" (host:port each; blanks around items ignored)
// into Options.DialMap. The error names the offending item; a from given twice is one.
// "" gives an empty map.
func ParseDialMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		from, to, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("item %d %q: want from=to", i+1, item)
		}
		for _, a := range []string{from, to} {
			if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
				return nil, fmt.Errorf("item %d %q: %q: want host:port", i+1, item, a)
			}
		}
		if _, dup := out[from]; dup {
			return nil, fmt.Errorf("item %d %q: %s is mapped twice", i+1, item, from)
		}
		out[from] = to
	}
	return out, nil
}
