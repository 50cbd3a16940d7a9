package integration

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"image/png"
	"iter"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wakegate/wakegate/integration/harness"
)

// browserHost is the host the browser test's target matches: what a browser sends for
// http://localhost:PORT/ (a host without a port matches any port).
const browserHost = "localhost"

// The viewport of the browser test, and so the size of its screenshot.
const screenshotWidth, screenshotHeight = 960, 540

// TestBrowserWaitingPage: a real browser navigating to a target at zero (waitingPage:
// immediate) is shown the waiting page at once, a 503 naming the target, and the page's own
// refresh — with no action from the test — lands it on the app once the app answers. The
// screenshot of the waiting page is kept in .artifacts/browser/ (and, with
// UPDATE_SCREENSHOT=1, in docs/images/).
func TestBrowserWaitingPage(t *testing.T) {
	t.Parallel()
	bin := chromiumBin(t)
	s := startStack(t, stackOptions{startupDelay: "4s", target: func(tg *harness.LocalTarget) {
		tg.Match.Hosts, tg.WaitingPage = []string{browserHost}, "immediate"
	}})
	_, port, err := net.SplitHostPort(s.envoy.Listener("gated"))
	if err != nil {
		t.Fatalf("gated listener %q: %v", s.envoy.Listener("gated"), err)
	}
	url := "http://" + net.JoinHostPort(browserHost, port) + "/"
	ctx := browserForTest(t, browserOptions{bin: bin, width: screenshotWidth, height: screenshotHeight})

	docsCtx, cancelDocs := context.WithTimeout(ctx, 60*time.Second)
	defer cancelDocs()
	docs := chromedp.Events(docsCtx, network.ResponseReceived) // subscribed before the navigation

	start := time.Now()
	first := openPage(t, ctx, url)
	t.Logf("first page after %v", time.Since(start).Round(time.Millisecond))
	if first.Status != http.StatusServiceUnavailable || !strings.HasPrefix(respHeader(first, "content-type"), "text/html") {
		t.Fatalf("first page: status %d, content-type %q; want the 503 HTML waiting page", first.Status, respHeader(first, "content-type"))
	}
	if respHeader(first, "retry-after") == "" || respHeader(first, "cache-control") != "no-store" {
		t.Errorf("waiting page: Retry-After %q, Cache-Control %q; want one, and no-store", respHeader(first, "retry-after"), respHeader(first, "cache-control"))
	}
	shot := checkWaitingPage(t, ctx)
	saveScreenshot(t, "waiting-page.png", shot)

	greeting := cmp.Or(os.Getenv("GREETING"), "hello") + " from app" // the sample app's <h1>
	awaitPageText(t, ctx, greeting)
	t.Logf("the app's page after %v, with no action from the test", time.Since(start).Round(time.Millisecond))
	if loc := pageEval[string](t, ctx, `document.location.href`); loc != url {
		t.Errorf("the browser ended on %s, want %s", loc, url)
	}
	checkDocuments(t, docs)
	if n := s.appStarts(t); n != 1 {
		t.Errorf("app started %d times, want 1", n)
	}
}

// openPage opens url in the tab and returns the response of its document.
func openPage(t testing.TB, ctx context.Context, url string) *network.Response {
	t.Helper()
	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(nctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
	if resp == nil {
		t.Fatalf("navigate to %s: no document response", url)
	}
	return resp
}

// checkWaitingPage checks that the tab shows the waiting page for the target "app" and
// returns a screenshot of it, taken between two checks that the page is still shown.
func checkWaitingPage(t testing.TB, ctx context.Context) []byte {
	t.Helper()
	const title = "Starting app…"
	if got := pageEval[string](t, ctx, `document.title`); got != title {
		t.Fatalf("first page title %q, want %q", got, title)
	}
	if got := pageEval[string](t, ctx, `document.querySelector("h1")?.innerText ?? ""`); got != title {
		t.Errorf("first page <h1> %q, want %q", got, title)
	}
	if got := pageEval[string](t, ctx, `document.querySelector('meta[http-equiv="refresh"]')?.content ?? ""`); got != "2" {
		t.Errorf("first page meta refresh %q, want 2", got)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	shot, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if got := pageEval[string](t, ctx, `document.title`); got != title {
		t.Fatalf("the page changed to %q while the screenshot was taken; the app started within the refresh", got)
	}
	return shot
}

// pageEval runs a JavaScript expression in the tab and returns its value.
func pageEval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := tryPageEval[T](ctx, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// tryPageEval runs a JavaScript expression in the tab, within 10 s.
func tryPageEval[T any](ctx context.Context, expr string) (T, error) {
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ectx, chromedp.Evaluate[T](expr))
}

// awaitPageText waits, without touching the page, until the text of the tab's document
// contains want.
func awaitPageText(t testing.TB, ctx context.Context, want string) {
	t.Helper()
	err := harness.Poll(deadline(t, 30*time.Second), func() (bool, error) {
		text, err := tryPageEval[string](ctx, `document.body ? document.body.innerText : ""`)
		if err != nil {
			return false, err // between two documents
		}
		return strings.Contains(text, want), fmt.Errorf("page text %.120q", text)
	})
	if err != nil {
		t.Fatalf("waiting for the browser to show the app (%q): %v", want, err)
	}
}

// checkDocuments reads the tab's document responses up to the first that is not a 503: the
// waiting page (each refresh asks again) and then the app's page, with no other status.
func checkDocuments(t testing.TB, docs iter.Seq2[network.EventResponseReceived, error]) {
	t.Helper()
	var statuses []int64
	var last *network.Response
	for ev, err := range docs {
		if err != nil {
			t.Fatalf("document responses %v, then: %v", statuses, err)
		}
		if ev.Type != network.ResourceTypeDocument {
			continue
		}
		last = ev.Response
		if statuses = append(statuses, last.Status); last.Status != http.StatusServiceUnavailable {
			break
		}
	}
	t.Logf("document responses: %v", statuses)
	if len(statuses) < 2 || last.Status != http.StatusOK || respHeader(last, "x-sample-app") != "app" {
		t.Errorf("document responses %v (last x-sample-app %q); want 503s from the waiting page, then 200 from the app",
			statuses, respHeader(last, "x-sample-app"))
	}
	if rh := respHeader(last, "retry-after"); rh != "" {
		t.Errorf("the app's page carried Retry-After %q", rh)
	}
}

// respHeader returns the response header name (any case), or "".
func respHeader(r *network.Response, name string) string {
	if r == nil {
		return ""
	}
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// saveScreenshot checks that b is a PNG of the viewport and writes it to .artifacts/browser/
// and, when UPDATE_SCREENSHOT=1, to docs/images/ (the one committed for the README).
func saveScreenshot(t testing.TB, name string, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X != screenshotWidth || sz.Y != screenshotHeight {
		t.Errorf("screenshot is %dx%d, want the %dx%d viewport", sz.X, sz.Y, screenshotWidth, screenshotHeight)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{filepath.Join(root, ".artifacts", "browser")}
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		dirs = append(dirs, filepath.Join(root, "docs", "images"))
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of the waiting page: %s", path)
	}
}
