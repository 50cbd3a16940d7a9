package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

const appURL = "http://localhost:10000/"

// result is one request of the tour as the client saw it.
type result struct {
	status    int
	took      time.Duration
	coldStart string // x-seen-cold-start echoed by the sample app: how long wakegate held it
	app       string // x-sample-app: the app answered, not Envoy or wakegate
}

func get(ctx context.Context, url string) (result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return result{status: resp.StatusCode, took: time.Since(start),
		coldStart: resp.Header.Get("x-seen-cold-start"), app: resp.Header.Get("x-sample-app")}, nil
}

func awaitHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return harness.Poll(ctx, func() (bool, error) {
		r, err := get(ctx, url)
		if err != nil {
			return false, err
		}
		return r.status == http.StatusOK, fmt.Errorf("%s: status %d", url, r.status)
	})
}

// step is one line of the tour; check says what was wrong, or "".
type step struct {
	name  string
	check func(r result) string
}

func tour(ctx context.Context, s *stack) error {
	state := func() string {
		t, err := s.wg.Target(ctx, "web")
		if err != nil {
			return "unknown (" + err.Error() + ")"
		}
		return t.State
	}
	fmt.Printf("target \"web\" is %s: the sample app is not running\n\n", state())
	failed := 0
	do := func(st step) {
		r, err := get(ctx, appURL)
		msg := ""
		if err != nil {
			msg = err.Error()
		} else {
			msg = st.check(r)
		}
		mark := "ok  "
		if msg != "" {
			mark, failed = "FAIL", failed+1
		}
		fmt.Printf("%s %-34s HTTP %d in %7.1f ms  held by wakegate: %s ms %s\n", mark, st.name, r.status,
			float64(r.took.Microseconds())/1000, orDash(r.coldStart), msg)
	}
	cold := step{"cold request (app at zero)", func(r result) string {
		return want(r.status == 200 && r.app != "" && r.coldStart != "", "want 200 from the app after a hold")
	}}
	warm := step{"warm request", func(r result) string {
		return want(r.status == 200 && r.coldStart == "", "want 200 without a hold")
	}}
	do(cold)
	do(warm)
	do(warm)
	fmt.Printf("\nwaiting for the idle timeout (10s in examples/demo/wakegate.yaml)…\n")
	start := time.Now()
	idleCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	idle, err := s.wg.AwaitTarget(idleCtx, "web", func(t harness.TargetStatus) bool { return t.State == "idle" })
	if err != nil {
		failed++
		fmt.Printf("FAIL app was not stopped: %v\n", err)
	} else {
		fmt.Printf("ok   app stopped after %.1f s without requests (requests so far: %d)\n\n", time.Since(start).Seconds(), idle.RequestsTotal)
	}
	do(step{"request after idle stop (re-wake)", cold.check})
	do(warm)
	fmt.Printf("\nwakegate /status: web is %s; metrics at %s/metrics\n", state(), s.wg.AdminURL())
	if failed > 0 {
		return fmt.Errorf("%d step(s) failed; logs in the log directory", failed)
	}
	fmt.Println("tour passed")
	return nil
}

func want(ok bool, msg string) string {
	if ok {
		return ""
	}
	return "— " + msg
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
