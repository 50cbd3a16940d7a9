package app

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// statusFixtureJSON is a /status document of replica a with two peers, b live and c
// silent, as a replica would serve it.
const statusFixtureJSON = `{
  "replica": "a",
  "time": "2026-01-02T03:04:05Z",
  "peers": [
    {"replica": "b", "address": "10.0.0.2:9091", "live": true, "lastReport": "2026-01-02T03:04:04.6Z",
     "staleFor": "400ms", "dropAfter": "10s", "reports": 120, "targets": 2, "goodbye": false},
    {"replica": "c", "address": "10.0.0.3:9091", "live": false, "lastReport": "2026-01-02T03:03:58Z",
     "staleFor": "7s", "dropAfter": "10s", "reports": 80, "targets": 1, "goodbye": false}
  ],
  "targets": [
    {"name": "airflow-ui", "state": "ready", "ready": true, "held": 0, "inFlight": 1, "requestsTotal": 40,
     "requestRate": 0.5, "wakeups": 1, "lastSeen": "2026-01-02T03:04:04Z",
     "merged": {"held": 0, "inFlight": 2, "requestsTotal": 95, "requestRate": 1.2833333, "lastSeen": "2026-01-02T03:04:05Z"},
     "reportedBy": ["a", "b", "c"]},
    {"name": "grafana", "state": "waking", "ready": false, "held": 1, "inFlight": 1, "requestsTotal": 1,
     "requestRate": 0.0166667, "wakeups": 1, "lastSeen": "2026-01-02T03:02:00Z",
     "merged": {"held": 3, "inFlight": 3, "requestsTotal": 3, "requestRate": 0.05, "lastSeen": "2026-01-02T03:02:00Z"},
     "reportedBy": ["a", "b"]},
    {"name": "notebooks", "state": "idle", "ready": false, "held": 0, "inFlight": 0, "requestsTotal": 0,
     "requestRate": 0, "wakeups": 0, "lastSeen": null,
     "merged": {"held": 0, "inFlight": 0, "requestsTotal": 0, "requestRate": 0, "lastSeen": null},
     "reportedBy": []}
  ]
}
`

const statusFixtureTable = `replica a at 2026-01-02T03:04:05Z: HELD, IN-FLIGHT and RATE (per second, last 60s) are merged over REPORTED-BY

TARGET      STATE   READY  HELD  IN-FLIGHT  RATE  LAST-SEEN  REPORTED-BY
airflow-ui  ready   yes    0     2          1.28  0.0s ago   a,b,c
grafana     waking  no     3     3          0.05  2m5s ago   a,b
notebooks   idle    no     0     0          0     never      -

REPLICA  ADDRESS        LIVE         LAST-REPORT  DROP-AFTER
b        10.0.0.2:9091  yes          0.4s ago     10s
c        10.0.0.3:9091  no (silent)  7.0s ago     10s
`

// serveStatusText starts an admin server whose /status answers code with body.
func serveStatusText(t *testing.T, code int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// runStatusCmd runs `wakegate status args...` and returns its stdout.
func runStatusCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Main(t.Context(), Env{Args: append([]string{"status"}, args...), Stdout: &out, Stderr: &errOut})
	if errOut.Len() > 0 {
		t.Errorf("stderr: %q", errOut.String())
	}
	return out.String(), err
}

// TestStatusCommandOutput: the table shows merged counts, reporting replicas and the peers;
// --output json prints the document as served. Both accept host:port and a URL.
func TestStatusCommandOutput(t *testing.T) {
	t.Parallel()
	addr := serveStatusText(t, http.StatusOK, statusFixtureJSON)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"table", []string{"--admin-addr", addr}, statusFixtureTable},
		{"table from a URL", []string{"--admin-addr", "http://" + addr + "/"}, statusFixtureTable},
		{"json", []string{"--admin-addr", addr, "--output", "json"}, statusFixtureJSON},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := runStatusCmd(t, tt.args...)
			if err != nil {
				t.Fatalf("status %q: %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status %q (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

// TestStatusCommandEmpty: a replica with no targets and no peers says so.
func TestStatusCommandEmpty(t *testing.T) {
	t.Parallel()
	addr := serveStatusText(t, http.StatusOK, `{"replica":"solo","time":"2026-01-02T03:04:05Z","peers":[],"targets":[]}`)
	got, err := runStatusCmd(t, "--admin-addr", addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replica solo at 2026-01-02T03:04:05Z", "no targets configured", "no peers in the view"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestStatusCommandErrors: bad flags are usage errors naming the flag (exit 2); a replica
// that cannot be reached, answers an error, answers something else than /status or is too
// slow is an error naming the URL (exit 1).
func TestStatusCommandErrors(t *testing.T) {
	t.Parallel()
	down := closedAddr(t)
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(slow.Close)
	for _, tt := range []struct {
		name string
		args []string
		code int
		want []string // substrings of the error
	}{
		{"output", []string{"--output", "yaml"}, 2, []string{`--output "yaml"`}},
		{"timeout", []string{"--timeout", "0s"}, 2, []string{"--timeout 0s"}},
		{"address", []string{"--admin-addr", "nope"}, 2, []string{`--admin-addr "nope"`}},
		{"scheme", []string{"--admin-addr", "ftp://x:1"}, 2, []string{`--admin-addr "ftp://x:1"`}},
		{"argument", []string{"extra"}, 2, []string{`unexpected argument "extra"`}},
		{"unreachable", []string{"--admin-addr", down}, 1, []string{"GET http://" + down + "/status"}},
		{"server error", []string{"--admin-addr", serveStatusText(t, http.StatusInternalServerError, "boom\nmore")}, 1,
			[]string{"500 Internal Server Error: boom"}},
		{"not status", []string{"--admin-addr", serveStatusText(t, http.StatusOK, "ok\n")}, 1, []string{"not a /status document"}},
		{"too slow", []string{"--admin-addr", slow.Listener.Addr().String(), "--timeout", "50ms"}, 1, []string{"no answer within --timeout"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := runStatusCmd(t, tt.args...)
			if err == nil || ExitCode(err) != tt.code {
				t.Fatalf("status %q = %v (exit %d), want exit %d", tt.args, err, ExitCode(err), tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on (it was bound a moment ago).
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestStatusCommandAgainstAdmin: the command reads a real admin mux's /status.
func TestStatusCommandAgainstAdmin(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	f.prov.setReady("alpha", true)
	f.gate.Finish(f.check(t, "alpha.test"))
	srv := httptest.NewServer(f.mux)
	t.Cleanup(srv.Close)
	got, err := runStatusCmd(t, "--admin-addr", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(got, "\n")
	if len(lines) < 6 || !strings.HasPrefix(lines[0], "replica self at ") {
		t.Fatalf("output:\n%s", got)
	}
	for i, want := range []string{"alpha ready yes 0 0 0.0167", "beta idle no 0 0 0 never -", "gamma idle no 0 0 0 never -"} {
		if row := strings.Join(strings.Fields(lines[3+i]), " "); !strings.HasPrefix(row, want) {
			t.Errorf("row %d %q, want it to start %q", i, row, want)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(lines[3]), "self") {
		t.Errorf("alpha row %q: want reported by self", lines[3])
	}
}

// TestAgo: ages are tenths of a second below a minute, whole seconds above; never for none.
func TestAgo(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	for _, tt := range []struct {
		t    *time.Time
		want string
	}{
		{nil, "never"}, {&time.Time{}, "never"}, {at(0), "0.0s ago"}, {at(-time.Second), "0.0s ago"},
		{at(1250 * time.Millisecond), "1.2s ago"}, {at(59 * time.Second), "59.0s ago"}, {at(61400 * time.Millisecond), "1m1s ago"},
	} {
		if got := ago(now, tt.t); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}
