package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakegate/wakegate/internal/gate"
)

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "1"}, {-time.Second, "1"}, {time.Nanosecond, "1"}, {time.Second, "1"},
		{time.Second + time.Nanosecond, "2"}, {2500 * time.Millisecond, "3"}, {5 * time.Second, "5"},
		{time.Hour, "3600"}, {1<<63 - 1, "9223372037"},
	}
	for _, tc := range tests {
		if got := retryAfterSeconds(tc.in); got != tc.want {
			t.Errorf("retryAfterSeconds(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRejection(t *testing.T) {
	tests := []struct {
		name        string
		d           gate.Decision
		details     string
		contentType string
		body        []string
	}{
		{name: "timeout text", d: gate.Decision{Outcome: gate.TimedOut, Target: "airflow", RetryAfter: 5 * time.Second},
			details: "wakegate_hold_timeout", contentType: "text/plain; charset=utf-8",
			body: []string{"airflow did not become ready in time; retry in 5 s\n"}},
		{name: "overload text", d: gate.Decision{Outcome: gate.Overload, Target: "a"},
			details: "wakegate_overload", contentType: "text/plain; charset=utf-8", body: []string{"a has too many requests waiting"}},
		{name: "draining page", d: gate.Decision{Outcome: gate.Draining, Target: "a", HTML: true},
			details: "wakegate_draining", contentType: "text/html; charset=utf-8", body: []string{"<!DOCTYPE html>", "restarting"}},
		{name: "waiting page escapes the target", d: gate.Decision{Outcome: gate.WaitPage, Target: `<script>alert("x")</script>`, HTML: true},
			details: "wakegate_waiting_page", contentType: "text/html; charset=utf-8",
			body: []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", `<meta http-equiv="refresh" content="2">`}},
		{name: "unknown outcome", d: gate.Decision{Outcome: gate.Outcome(99)},
			details: "wakegate_unavailable", contentType: "text/plain; charset=utf-8", body: []string{"the service is not available"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := rejection(tc.d)
			if a.Status != 503 || a.Details != tc.details {
				t.Errorf("status %d details %q, want 503 %q", a.Status, a.Details, tc.details)
			}
			want := [][2]string{{"retry-after", retryAfterSeconds(tc.d.RetryAfter)}, {"cache-control", "no-store"}, {"content-type", tc.contentType}}
			if diff := cmp.Diff(want, a.Headers); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			for _, s := range tc.body {
				if !strings.Contains(string(a.Body), s) {
					t.Errorf("body does not contain %q:\n%s", s, a.Body)
				}
			}
			if strings.Contains(string(a.Body), "<script>") {
				t.Errorf("body carries an unescaped script tag:\n%s", a.Body)
			}
		})
	}
}

// The waiting page must stand alone: no scripts, no external assets. Its one link is an
// empty data: favicon, so browsers do not fetch /favicon.ico (which would be held too).
func TestPageSelfContained(t *testing.T) {
	page, err := renderPage(pageData{Target: "app", Note: "n"})
	if err != nil {
		t.Fatalf("renderPage: %v", err)
	}
	const favicon = `<link rel="icon" href="data:,">`
	if !strings.Contains(string(page), favicon) {
		t.Errorf("page lacks the empty favicon %s", favicon)
	}
	rest := strings.Replace(string(page), favicon, "", 1)
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import"} {
		if strings.Contains(rest, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}
