package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wakegate/wakegate/integration/harness"
)

// chromiumPath is where Debian's chromium package (`make chromium`) installs the browser.
const chromiumPath = "/usr/bin/chromium"

// chromiumBin returns the browser for t. Without one t is skipped, except in CI (CI=true),
// where a missing browser fails it.
func chromiumBin(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Chromium (run `make chromium`): %v", err)
		}
		t.Skipf("skipping: no Chromium (run `make chromium`): %v", err)
	}
	return chromiumPath
}

// browserMarkEnv is set in the browser's environment, so the test finds every process it
// started (the browser's children, and crash handlers re-parented to init).
const browserMarkEnv = "WAKEGATE_TEST_BROWSER"

// browserCloseTimeout bounds the browser's graceful close at the end of a test.
const browserCloseTimeout = 10 * time.Second

// browserOptions describe the headless Chromium browserForTest starts.
type browserOptions struct {
	bin           string
	width, height int // the window, and so the viewport of screenshots
}

// browserForTest starts headless Chromium with a fresh profile and returns a chromedp
// context for its first tab. The browser is closed when t ends; t fails if any process
// that used the profile is still alive then, and a failed t gets the browser's output.
// The context is for t's goroutine; chromedp serialises the commands sent on it.
func browserForTest(t testing.TB, o browserOptions) context.Context {
	t.Helper()
	profile := t.TempDir() // registered first, so removed after the browser is gone
	logPath := filepath.Join(t.TempDir(), "chromium.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	mark := browserMarkEnv + "=" + profile // inherited by every process the browser starts
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(o.bin), chromedp.UserDataDir(profile), chromedp.Env(mark), chromedp.WindowSize(o.width, o.height),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("force-color-profile", "srgb"),
		chromedp.CombinedOutput(logf))
	logTo := func(format string, args ...any) { fmt.Fprintf(logf, "chromedp: "+format+"\n", args...) }
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logTo), chromedp.WithLogf(logTo))
	t.Cleanup(func() {
		closeCtx, cancelClose := context.WithTimeout(ctx, browserCloseTimeout)
		if err := chromedp.Cancel(closeCtx); err != nil { // Browser.close, and waits for the exit
			t.Errorf("close Chromium: %v", err)
		}
		cancelClose()
		cancelTab()   // kills the browser if it did not close in time
		cancelAlloc() // waits until the browser process is reaped
		if left := awaitNoProcesses(mark); len(left) > 0 {
			t.Errorf("Chromium processes still running after the browser was closed, killed: %v", left)
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- output of chromium (%s):\n%s", logPath, lastLines(string(b), 60))
		}
	})
	// The first action starts the browser, with no deadline of its own. The window size
	// includes the headless window's frame, so the viewport is set exactly here.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(o.width), int64(o.height))); err != nil {
		t.Fatalf("start Chromium %s: %v", o.bin, err)
	}
	if len(processesWithEnv(mark)) == 0 { // else the check at cleanup could not fail
		t.Fatalf("cannot find Chromium's processes by %s in their environment", browserMarkEnv)
	}
	return ctx
}

// awaitNoProcesses waits up to 5 s for the processes whose environment holds mark (the
// browser and all it started, also those re-parented to init) to exit, then kills those
// left and returns their pids.
func awaitNoProcesses(mark string) []int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var left []int
	_ = harness.Poll(ctx, func() (bool, error) {
		left = processesWithEnv(mark)
		return len(left) == 0, nil
	})
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return left
}

// processesWithEnv returns the pids of the other processes whose environment holds the
// variable kv ("NAME=value").
func processesWithEnv(kv string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && slices.Contains(strings.Split(string(env), "\x00"), kv) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
