package filter

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/wakegate/wakegate/internal/gate"
)

// answer is an HTTP response wakegate gives instead of the upstream's, in a form both
// adapters translate into their protocol (ImmediateResponse, DeniedHttpResponse).
type answer struct {
	Status  int
	Headers [][2]string // lower-case name, value
	Body    []byte
	Details string // short machine-readable reason; Envoy logs it as %RESPONSE_CODE_DETAILS%
}

// reason describes why a request was rejected, per gate outcome.
type reason struct {
	details string // Envoy response details
	text    string // finishes "<target> ..." in the plain-text body
	note    string // a sentence for the waiting page
}

func reasonFor(o gate.Outcome) reason {
	switch o {
	case gate.TimedOut:
		return reason{"wakegate_hold_timeout", "did not become ready in time",
			"It is taking longer than usual to start."}
	case gate.Overload:
		return reason{"wakegate_overload", "has too many requests waiting for it",
			"Too many requests are waiting for it right now."}
	case gate.Draining:
		return reason{"wakegate_draining", "is not ready and wakegate is shutting down",
			"The gateway is restarting; it should be back in a moment."}
	case gate.WaitPage:
		return reason{"wakegate_waiting_page", "is starting",
			"It was asleep and is waking up now."}
	}
	return reason{"wakegate_unavailable", "is not available", "It is not available yet."}
}

// rejection is the answer for a Decision that does not continue (TimedOut, Overload,
// Draining, WaitPage). The status is always 503, also for the waiting page: the target is
// not there yet, browsers render a 503's body like any page (so the page shows and its
// refresh runs), while caches, crawlers and API clients read 503 + Retry-After as "come back
// later" rather than as content. The body is the HTML waiting page when d.HTML, else one
// line of text naming the target and the reason.
func rejection(d gate.Decision) answer {
	r := reasonFor(d.Outcome)
	target := d.Target
	if target == "" {
		target = "the service"
	}
	retry := retryAfterSeconds(d.RetryAfter)
	a := answer{Status: http.StatusServiceUnavailable, Details: r.details}
	contentType := "text/plain; charset=utf-8"
	a.Body = fmt.Appendf(nil, "%s %s; retry in %s s\n", target, r.text, retry)
	if d.HTML {
		if page, err := renderPage(pageData{Target: target, Note: r.note}); err == nil {
			contentType, a.Body = "text/html; charset=utf-8", page
		}
	}
	a.Headers = [][2]string{
		{"retry-after", retry},
		{"cache-control", "no-store"},
		{"content-type", contentType},
	}
	return a
}

// releasedHeaders are the request headers both adapters add for the upstream when a held
// request is released: ColdStartHeader, the hold in whole milliseconds.
func releasedHeaders(d gate.Decision) [][2]string {
	return [][2]string{{ColdStartHeader, strconv.FormatInt(d.Held.Milliseconds(), 10)}}
}

// retryAfterSeconds formats d for Retry-After: whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := d / time.Second
	if d%time.Second > 0 {
		s++
	}
	return strconv.FormatInt(int64(max(s, 1)), 10)
}

type pageData struct {
	Target string
	Note   string
}

// renderPage executes the waiting page template; html/template escapes the data.
func renderPage(p pageData) ([]byte, error) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("render waiting page for %q: %w", p.Target, err)
	}
	return b.Bytes(), nil
}

// pageTemplate is parsed once from a constant and only read afterwards; Execute is safe
// for concurrent use.
var pageTemplate = template.Must(template.New("waiting").Parse(pageHTML))

// pageHTML is self-contained: inline CSS, no scripts, no external assets. The meta refresh
// reloads the page every 2 s, so the visitor lands on the app once it answers.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>Starting {{.Target}}…</title>
<style>
 :root { color-scheme: light dark; }
 body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
        font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
        background: #f5f6f8; color: #1f2933; }
 main { max-width: 32rem; margin: 1rem; padding: 2rem 2.5rem; border-radius: 12px;
        background: #fff; box-shadow: 0 2px 12px rgba(0,0,0,.08); text-align: center; }
 h1 { font-size: 1.35rem; margin: 1rem 0 .5rem; overflow-wrap: anywhere; }
 p { margin: .4rem 0; color: #52606d; }
 .spin { width: 2.5rem; height: 2.5rem; margin: 0 auto; border-radius: 50%;
         border: 4px solid #d9e2ec; border-top-color: #3b82f6; animation: spin 1s linear infinite; }
 @keyframes spin { to { transform: rotate(360deg); } }
 @media (prefers-reduced-motion: reduce) { .spin { animation: none; } }
 @media (prefers-color-scheme: dark) {
   body { background: #111827; color: #e5e7eb; } main { background: #1f2937; } p { color: #9ca3af; }
   .spin { border-color: #374151; border-top-color: #60a5fa; } }
</style>
</head>
<body>
<main>
<div class="spin" aria-hidden="true"></div>
<h1>Starting {{.Target}}…</h1>
<p>{{.Note}}</p>
<p>This page reloads every 2 seconds and shows the application as soon as it is ready.</p>
</main>
</body>
</html>
`
