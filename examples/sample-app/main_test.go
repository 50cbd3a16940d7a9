package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	o := options{name: "demo", greeting: "howdy"}
	h := newHandler(o, time.Now())
	tests := []struct {
		name, path   string
		reqHeaders   map[string]string
		wantBody     []string
		wantType     string
		wantColdSeen string // "" means the header must be absent
	}{
		{name: "healthz", path: "/healthz", wantBody: []string{"ok"}, wantType: "text/plain; charset=utf-8"},
		{name: "page", path: "/some/where?q=1", wantType: "text/html; charset=utf-8",
			wantBody: []string{"howdy from demo", "<code>/some/where</code>", "up for"}},
		{name: "escapes path", path: "/%3Cscript%3E", wantType: "text/html; charset=utf-8",
			wantBody: []string{"&lt;script&gt;"}},
		{name: "cold start echoed", path: "/", reqHeaders: map[string]string{"X-Wakegate-Cold-Start": "1.5s"},
			wantType: "text/html; charset=utf-8", wantColdSeen: "1.5s", wantBody: []string{"howdy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			for k, v := range tc.reqHeaders {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if got := rec.Header().Get("x-sample-app"); got != "demo" {
				t.Errorf("x-sample-app = %q, want demo", got)
			}
			if got := rec.Header().Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			seen, ok := rec.Header()["X-Seen-Cold-Start"]
			if tc.wantColdSeen == "" && ok {
				t.Errorf("x-seen-cold-start = %q, want absent", seen)
			}
			if tc.wantColdSeen != "" && rec.Header().Get("x-seen-cold-start") != tc.wantColdSeen {
				t.Errorf("x-seen-cold-start = %q, want %q", seen, tc.wantColdSeen)
			}
			for _, w := range tc.wantBody {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("body lacks %q:\n%s", w, rec.Body.String())
				}
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		greeting string
		want     options
		wantErr  string
	}{
		{name: "defaults", want: options{listen: "127.0.0.1:18080", name: "sample-app", greeting: "hello"}},
		{name: "all set", args: []string{"--listen", ":0", "--startup-delay", "2s", "--name", "x"}, greeting: "hi",
			want: options{listen: ":0", startupDelay: 2 * time.Second, name: "x", greeting: "hi"}},
		{name: "bad delay", args: []string{"--startup-delay", "soon"}, wantErr: "startup-delay"},
		{name: "negative delay", args: []string{"--startup-delay", "-1s"}, wantErr: "must not be negative"},
		{name: "extra arg", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions(tc.args, tc.greeting)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestRunServesAndShutsDown runs the app on an OS-chosen port, requests a page, then
// cancels and expects a clean return.
func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--name", "t", "--startup-delay", "10ms"}, pw, "")
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading stdout: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line = %q, want \"listening on ADDR\"", line)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	resp, err := http.Get("http://" + addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hello from t") {
		t.Errorf("body = %s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v, want nil", err)
	}
}

// TestRunCancelledWhileStarting stops during the startup delay without listening.
func TestRunCancelledWhileStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out strings.Builder
	if err := run(ctx, []string{"--listen", "127.0.0.1:0", "--startup-delay", "1h"}, &out, ""); err != nil {
		t.Fatalf("run = %v, want nil", err)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out.String())
	}
}
