package filter

import (
	"strings"
	"testing"
)

func TestPrefersHTML(t *testing.T) {
	tests := []struct {
		name   string
		accept string
		want   bool
	}{
		{"chrome navigation", chromeAccept, true},
		{"firefox navigation", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"safari navigation", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"old IE-style xhtml only", "application/xhtml+xml, */*;q=0.5", true},
		{"upper case, spaces", " TEXT/HTML ; Q=1.0 , */* ; q=0.1", true},
		{"html ties with other type", "application/json, text/html", true},
		{"chrome image request", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", false},
		{"chrome fetch default", "*/*", false},
		{"curl", "*/*", false},
		{"json api", "application/json", false},
		{"axios", "application/json, text/plain, */*", false},
		{"html refused", "text/html;q=0, */*", false},
		{"html q=0.000", "text/html;q=0.000", false},
		{"html below wildcard", "text/html;q=0.5, */*;q=0.8", false},
		{"html below json", "text/html;q=0.9, application/json", false},
		{"html low but alone", "text/html;q=0.001", true},
		{"empty", "", false},
		{"blank items", " , ,", false},
		{"text wildcard is not html", "text/*", false},
		{"invalid q ignored", "text/html;q=2", false},
		{"invalid q on other ignored", "text/html;q=0.5, application/json;q=1.5", true},
		{"q with too many decimals", "text/html;q=0.1234", false},
		{"q=1.", "text/html;q=1.", true},
		{"q=1.001 invalid", "text/html;q=1.001", false},
		{"parameter before q", "text/html;level=1;q=0.7, */*;q=0.6", true},
		{"repeated html: best counts", "text/html;q=0.2, text/html;q=0.9, */*;q=0.5", true},
		{"not a media type", "html", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := prefersHTML(tc.accept); got != tc.want {
				t.Errorf("prefersHTML(%q) = %v, want %v", tc.accept, got, tc.want)
			}
		})
	}
}

// Repeated Accept headers count as one list.
func TestAcceptScanSeveralValues(t *testing.T) {
	a := newAcceptScan()
	a.add("text/html;q=0.5")
	a.add("application/json")
	if a.browser() {
		t.Error("browser() = true although a second Accept prefers JSON")
	}
	if !requestFromHeaders(hdrs(":path", "/", "accept", "application/xml;q=0.5", "accept", "text/html")).Browser {
		t.Error("requestFromHeaders: Browser = false, want true from the second Accept header")
	}
}

func TestParseQ(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"1", 1000, true}, {"0.5", 500, true}, {"0.05", 50, true}, {"0.123", 123, true},
		{"1.000", 1000, true}, {"0.", 0, true}, {"", 0, false}, {"2", 0, false}, {"1.5", 0, false},
		{"0.1234", 0, false}, {"0,5", 0, false}, {".5", 0, false}, {"0.a", 0, false}, {"-0", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseQ(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseQ(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzPrefersHTML(f *testing.F) {
	for _, s := range []string{chromeAccept, "*/*", "text/html;q=0", "application/json, text/plain, */*", "", "text/html;q=0.5,*/*;q=0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := prefersHTML(accept)
		lower := strings.ToLower(accept)
		if got && !strings.Contains(lower, "text/html") && !strings.Contains(lower, "application/xhtml+xml") {
			t.Errorf("prefersHTML(%q) = true without an HTML media type", accept)
		}
		// Adding the same list twice changes nothing: only the best q per side counts.
		a := newAcceptScan()
		a.add(accept)
		a.add(accept)
		if a.browser() != got {
			t.Errorf("prefersHTML(%q) = %v, but twice the same list gives %v", accept, got, a.browser())
		}
		// Another item can only raise the competition: */* at q=1 never adds a preference.
		if prefersHTML(accept+",*/*;q=1") && !got {
			t.Errorf("appending */* made %q prefer HTML", accept)
		}
	})
}
