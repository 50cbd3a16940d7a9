package local

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakegate/wakegate/internal/activity"
)

func validSpec() Spec {
	return Spec{Name: "web", Command: []string{"app"}, ReadyHTTP: "http://127.0.0.1:1/healthz",
		ReadyInterval: time.Second, IdleTimeout: time.Minute, StopGracePeriod: time.Second}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Spec)
		specs   int // how many copies of the spec
		noTrack bool
		wantErr []string
	}{
		{name: "valid", edit: func(*Spec) {}},
		{name: "valid tcp, zero grace", edit: func(s *Spec) { s.ReadyHTTP, s.ReadyTCP, s.StopGracePeriod = "", "localhost:80", 0 }},
		{name: "no tracker", edit: func(*Spec) {}, noTrack: true, wantErr: []string{"Tracker is required"}},
		{name: "empty name", edit: func(s *Spec) { s.Name = "" }, wantErr: []string{"name is empty"}},
		{name: "no command", edit: func(s *Spec) { s.Command = nil }, wantErr: []string{"command is empty"}},
		{name: "empty program", edit: func(s *Spec) { s.Command = []string{""} }, wantErr: []string{"command is empty"}},
		{name: "both checks", edit: func(s *Spec) { s.ReadyTCP = "localhost:80" }, wantErr: []string{"exactly one"}},
		{name: "no check", edit: func(s *Spec) { s.ReadyHTTP = "" }, wantErr: []string{"exactly one"}},
		{name: "bad url", edit: func(s *Spec) { s.ReadyHTTP = "ftp://x/" }, wantErr: []string{`ReadyHTTP "ftp://x/"`}},
		{name: "url without host", edit: func(s *Spec) { s.ReadyHTTP = "http:///x" }, wantErr: []string{`ReadyHTTP "http:///x"`}},
		{name: "bad tcp", edit: func(s *Spec) { s.ReadyHTTP, s.ReadyTCP = "", "localhost" }, wantErr: []string{`ReadyTCP "localhost"`}},
		{name: "zero interval", edit: func(s *Spec) { s.ReadyInterval = 0 }, wantErr: []string{"ReadyInterval 0s: must be positive"}},
		{name: "negative idle", edit: func(s *Spec) { s.IdleTimeout = -time.Second }, wantErr: []string{"IdleTimeout -1s: must be positive"}},
		{name: "negative grace", edit: func(s *Spec) { s.StopGracePeriod = -1 }, wantErr: []string{"StopGracePeriod -1ns"}},
		{name: "duplicate", edit: func(*Spec) {}, specs: 2, wantErr: []string{`spec 1: duplicate target name "web"`}},
		{name: "several problems", edit: func(s *Spec) { s.Command, s.IdleTimeout = nil, 0 },
			wantErr: []string{`spec 0 ("web")`, "command is empty", "IdleTimeout 0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.edit(&s)
			opts := Options{Specs: slices.Repeat([]Spec{s}, max(tc.specs, 1)), Tracker: activity.New(0)}
			if tc.noTrack {
				opts.Tracker = nil
			}
			_, err := New(opts)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want errors %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLineWriter(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{name: "lines", writes: []string{"a\nb\n"}, want: []string{"a", "b"}},
		{name: "split writes", writes: []string{"hel", "lo\nwor", "ld\n"}, want: []string{"hello", "world"}},
		{name: "crlf and empty", writes: []string{"a\r\n\n"}, want: []string{"a", ""}},
		{name: "partial flushed", writes: []string{"a\nrest"}, want: []string{"a", "rest"}},
		{name: "long line split", writes: []string{long + "\n"}, want: []string{long[:maxLine], "xxxxxxxxxx"}},
		{name: "long line in pieces", writes: []string{long[:100], long[100:], "\n"}, want: []string{long[:maxLine], "xxxxxxxxxx"}},
		{name: "exactly max", writes: []string{long[:maxLine], "\nz\n"}, want: []string{long[:maxLine], "z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs, log := newLogStore()
			w := newLineWriter(log.With("target", "t"), "stderr")
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.Flush()
			var got []string
			for _, r := range logs.matching(func(record) bool { return true }) {
				if r.Attrs["stream"] != "stderr" || r.Attrs["target"] != "t" {
					t.Errorf("record attrs = %v", r.Attrs)
				}
				got = append(got, r.Msg)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("logged lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/redirect":
			http.Redirect(w, r, "/fail", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	tests := []struct {
		name      string
		http, tcp string
		wantErr   string
	}{
		{name: "2xx", http: srv.URL + "/ok"},
		{name: "3xx not followed", http: srv.URL + "/redirect"},
		{name: "5xx", http: srv.URL + "/fail", wantErr: "status 503"},
		{name: "http refused", http: "http://" + freeAddr(t) + "/", wantErr: "refused"},
		{name: "tcp open", tcp: srv.Listener.Addr().String()},
		{name: "tcp refused", tcp: freeAddr(t), wantErr: "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			s.ReadyHTTP, s.ReadyTCP = tc.http, tc.tcp
			p, err := New(Options{Specs: []Spec{s}, Tracker: activity.New(0)})
			if err != nil {
				t.Fatal(err)
			}
			err = p.probe(s)
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("probe = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestIdleDeadline(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const timeout = time.Minute
	tests := []struct {
		name   string
		stats  activity.Stats
		want   time.Time
		wantOK bool
	}{
		{name: "never seen: from since", want: t0.Add(timeout), wantOK: true},
		{name: "seen before since", stats: activity.Stats{LastSeen: t0.Add(-time.Hour)}, want: t0.Add(timeout), wantOK: true},
		{name: "seen after since", stats: activity.Stats{LastSeen: t0.Add(time.Second)}, want: t0.Add(time.Second + timeout), wantOK: true},
		{name: "in flight", stats: activity.Stats{InFlight: 1, LastSeen: t0}},
		{name: "held", stats: activity.Stats{Held: 1, LastSeen: t0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := idleDeadline(tc.stats, t0, timeout)
			if ok != tc.wantOK || !got.Equal(tc.want) {
				t.Errorf("idleDeadline = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestIdleLoop drives the idle loop with fake time against a fake process (marked exited,
// so no signal is ever sent) and checks when it decides to stop.
func TestIdleLoop(t *testing.T) {
	const idle = time.Minute
	tests := []struct {
		name  string
		ready bool // the process is ready (else still starting) from "now" on
		// act runs first; it returns how much longer than its end the loop must wait
		// before it stops the process.
		act func(tr *activity.Tracker) time.Duration
	}{
		{name: "no requests: from readiness", ready: true, act: func(*activity.Tracker) time.Duration { return idle }},
		{name: "no requests: from start while starting", act: func(*activity.Tracker) time.Duration { return idle }},
		{name: "in flight holds it, then from the last request", ready: true, act: func(tr *activity.Tracker) time.Duration {
			tr.Begin("x")
			time.Sleep(3 * idle)
			synctest.Wait()
			tr.End("x")
			return idle
		}},
		{name: "held request holds a starting process", act: func(tr *activity.Tracker) time.Duration {
			tr.Begin("x")
			tr.HoldStart("x")
			time.Sleep(2 * idle)
			synctest.Wait()
			tr.HoldEnd("x")
			tr.End("x")
			return idle
		}},
		{name: "recent request extends it", ready: true, act: func(tr *activity.Tracker) time.Duration {
			time.Sleep(idle / 2)
			tr.Begin("x")
			tr.End("x")
			return idle
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { runIdleLoopCase(t, idle, tc.ready, tc.act) })
		})
	}
}

func runIdleLoopCase(t *testing.T, idle time.Duration, ready bool, act func(*activity.Tracker) time.Duration) {
	tr := activity.New(0)
	tr.Begin("x") // a request from before the process started must not count
	tr.End("x")
	time.Sleep(time.Hour)
	s := validSpec()
	s.Name, s.IdleTimeout = "x", idle
	p, err := New(Options{Specs: []Spec{s}, Tracker: tr})
	if err != nil {
		t.Fatal(err)
	}
	tg := p.targets["x"]
	pr := &process{pid: -1, started: time.Now(), exited: true, done: make(chan struct{})}
	tg.mu.Lock()
	tg.proc, tg.ready, tg.readyAt = pr, ready, time.Now()
	tg.mu.Unlock()
	p.wg.Add(1)
	go p.idleLoop(tg)
	stopping := func() bool {
		synctest.Wait()
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return pr.stopping
	}
	if stopping() {
		t.Fatal("stopped at once")
	}
	wait := act(tr)
	if stopping() {
		t.Fatal("stopped while busy")
	}
	time.Sleep(wait - time.Nanosecond)
	if stopping() {
		t.Fatal("stopped before the idle timeout")
	}
	time.Sleep(time.Nanosecond)
	if !stopping() {
		t.Fatal("not stopped at the idle timeout")
	}
	if ready, _ := p.Ready("x"); ready {
		t.Error("still ready while stopping")
	}
	close(pr.done)
	p.cancel()
	p.wg.Wait()
}
