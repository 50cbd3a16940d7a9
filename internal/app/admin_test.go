package app

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/health"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
	"github.com/wakegate/wakegate/internal/telemetry"
)

// adminFixture is a real gate and tracker over a fake provider, with the admin mux.
type adminFixture struct {
	prov *fakeProvider
	gate *gate.Gate
	mux  *http.ServeMux
}

// newAdminFixture configures the targets alpha, beta and gamma (Host <name>.test). Wake
// back-off is an hour, so each wake loop calls Wake exactly once during a test.
func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	prov, tr, reg := newFakeProvider(), activity.New(0), prometheus.NewRegistry()
	m, err := telemetry.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Options{Provider: prov, Tracker: tr, Metrics: m, WakeBackoff: time.Hour, MaxWakeBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	var targets []gate.Target
	for _, name := range []string{"gamma", "alpha", "beta"} {
		targets = append(targets, gate.Target{Rule: route.Rule{Target: name, Hosts: []string{name + ".test"}},
			Policy: gate.Policy{HoldTimeout: time.Minute}})
	}
	if err := g.Configure(targets); err != nil {
		t.Fatal(err)
	}
	return &adminFixture{prov: prov, gate: g, mux: adminMux(newProbes(health.NewServer()), reg, g, tr)}
}

func (f *adminFixture) check(t *testing.T, host string) gate.Decision {
	return f.gate.Check(t.Context(), gate.Request{Request: route.Request{Authority: host, Path: "/"}})
}

func (f *adminFixture) get(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// statusRow is /status's row as a client reads it, declared apart from targetStatus so
// that a renamed JSON field fails the test.
type statusRow struct {
	Name          string  `json:"name"`
	State         string  `json:"state"`
	Ready         bool    `json:"ready"`
	Held          int64   `json:"held"`
	InFlight      int64   `json:"inFlight"`
	RequestsTotal uint64  `json:"requestsTotal"`
	RequestRate   float64 `json:"requestRate"`
	Wakeups       uint64  `json:"wakeups"`
	LastSeen      *string `json:"lastSeen"`
}

// status fetches /status, checks every row has exactly the documented fields, and decodes it.
func (f *adminFixture) status(t *testing.T) []statusRow {
	t.Helper()
	rec := f.get(t, "/status")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("/status: %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var raw struct{ Targets []map[string]json.RawMessage }
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("/status: %v\n%s", err, rec.Body)
	}
	want := []string{"held", "inFlight", "lastSeen", "name", "ready", "requestRate", "requestsTotal", "state", "wakeups"}
	for i, row := range raw.Targets {
		if got := slices.Sorted(maps.Keys(row)); !slices.Equal(got, want) {
			t.Errorf("/status row %d fields %v, want %v", i, got, want)
		}
	}
	var doc struct {
		Targets []statusRow `json:"targets"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("/status: %v", err)
	}
	return doc.Targets
}

// TestStatus: /status lists every configured target in name order with the gate's state and
// the tracker's counts: ready with traffic, waking with a held request, idle and unseen.
func TestStatus(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	start := time.Now()
	f.prov.setReady("alpha", true)
	f.gate.Finish(f.check(t, "alpha.test"))
	inFlight := f.check(t, "alpha.test")
	defer f.gate.Finish(inFlight)

	held := make(chan gate.Decision, 1)
	go func() { held <- f.check(t, "beta.test") }()
	if woken := <-f.prov.woken; woken != "beta" { // the request is held before the wake
		t.Fatalf("woke %q, want beta", woken)
	}
	rows := f.status(t)
	perMinute := func(n float64) float64 { return n / statusRateWindow.Seconds() }
	want := []statusRow{
		{Name: "alpha", State: "ready", Ready: true, InFlight: 1, RequestsTotal: 2, RequestRate: perMinute(2)},
		{Name: "beta", State: "waking", Held: 1, InFlight: 1, RequestsTotal: 1, RequestRate: perMinute(1), Wakeups: 1},
		{Name: "gamma", State: "idle"},
	}
	checkRows(t, rows, want, start)

	f.prov.setReady("beta", true)
	d := <-held
	f.gate.Finish(d)
	if d.Outcome != gate.Released {
		t.Fatalf("held request: %v, want released", d.Outcome)
	}
	want[1] = statusRow{Name: "beta", State: "ready", Ready: true, RequestsTotal: 1, RequestRate: perMinute(1), Wakeups: 1}
	checkRows(t, f.status(t), want, start)
}

// checkRows compares rows with want, except lastSeen: set (UTC, RFC 3339, not before start)
// exactly for rows with requests.
func checkRows(t *testing.T, rows, want []statusRow, start time.Time) {
	t.Helper()
	for i, r := range rows {
		switch {
		case r.RequestsTotal == 0 && r.LastSeen != nil:
			t.Errorf("%s: lastSeen %q without requests", r.Name, *r.LastSeen)
		case r.RequestsTotal > 0 && r.LastSeen == nil:
			t.Errorf("%s: lastSeen null after requests", r.Name)
		case r.LastSeen != nil:
			ls, err := time.Parse(time.RFC3339Nano, *r.LastSeen)
			if err != nil || !strings.HasSuffix(*r.LastSeen, "Z") || ls.Before(start.Truncate(time.Second)) || ls.After(time.Now()) {
				t.Errorf("%s: lastSeen %q (%v): want UTC RFC 3339 between %v and now", r.Name, *r.LastSeen, err, start)
			}
		}
		rows[i].LastSeen = nil
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("/status (-want +got):\n%s", diff)
	}
}

// TestAdminRoutes: the admin mux serves its four paths to GET only.
func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	f.prov.setReady("alpha", true)
	f.gate.Finish(f.check(t, "alpha.test"))
	for _, tt := range []struct {
		method, path string
		code         int
		body         string // a substring of the body
	}{
		{http.MethodGet, "/healthz", http.StatusOK, "ok"},
		{http.MethodGet, "/readyz", http.StatusServiceUnavailable, "starting"},
		{http.MethodGet, "/status", http.StatusOK, `"name": "alpha"`},
		{http.MethodGet, "/metrics", http.StatusOK, `wakegate_requests_total{outcome="ready",target="alpha"} 1`},
		{http.MethodPost, "/status", http.StatusMethodNotAllowed, ""},
		{http.MethodGet, "/nope", http.StatusNotFound, ""},
	} {
		rec := httptest.NewRecorder()
		f.mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s %s: %d %.300q, want %d with %q", tt.method, tt.path, rec.Code, rec.Body, tt.code, tt.body)
		}
	}
}
