package filter

import "strings"

// acceptScan decides from Accept header values whether the client prefers HTML, i.e. is a
// browser navigation. It does not allocate. The zero value is not ready; use newAcceptScan.
type acceptScan struct {
	html  int // best q (in thousandths) of text/html or application/xhtml+xml; -1 if unlisted
	other int // best q of any other media range, */* included; -1 if none
}

func newAcceptScan() acceptScan { return acceptScan{html: -1, other: -1} }

// prefersHTML reports whether an Accept header value prefers HTML (see acceptScan.browser).
func prefersHTML(accept string) bool {
	a := newAcceptScan()
	a.add(accept)
	return a.browser()
}

// add takes one Accept header value (a comma-separated list); several values of a repeated
// header may be added one by one. Malformed items are ignored.
func (a *acceptScan) add(v string) {
	for v != "" {
		var item string
		item, v, _ = strings.Cut(v, ",")
		a.addItem(item)
	}
}

func (a *acceptScan) addItem(item string) {
	mediaType, params, _ := strings.Cut(item, ";")
	mediaType = strings.TrimSpace(mediaType)
	typ, sub, ok := strings.Cut(mediaType, "/")
	if !ok || typ == "" || sub == "" {
		return
	}
	q, ok := qParam(params)
	if !ok {
		return
	}
	if strings.EqualFold(mediaType, "text/html") || strings.EqualFold(mediaType, "application/xhtml+xml") {
		a.html = max(a.html, q)
	} else {
		a.other = max(a.other, q)
	}
}

// browser reports whether HTML is listed with q > 0 and no other listed type (including
// */*) is preferred over it. A missing or empty Accept is not a browser.
func (a acceptScan) browser() bool { return a.html > 0 && a.html >= a.other }

// qParam finds the q parameter among ";"-separated media type parameters. It returns 1000
// when there is none, and false when q is not a valid qvalue (RFC 9110 §12.4.2).
func qParam(params string) (int, bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			return parseQ(strings.TrimSpace(value))
		}
	}
	return 1000, true
}

// parseQ parses a qvalue ("0", "0.5", "1", "1.000", at most three decimals) into
// thousandths.
func parseQ(s string) (int, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}
