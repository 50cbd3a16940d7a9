package app

import (
	"encoding/json"
	"fmt"
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
	"github.com/wakegate/wakegate/internal/peer"
	"github.com/wakegate/wakegate/internal/route"
	"github.com/wakegate/wakegate/internal/telemetry"
)

// adminFixture is a real gate, tracker and peer view (with no peers unless a test adds
// them) over a fake provider, with the admin mux of replica "self".
type adminFixture struct {
	prov *fakeProvider
	gate *gate.Gate
	tr   *activity.Tracker
	view *peer.View
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
	view, err := peer.NewView(peer.ViewOptions{Tracker: tr})
	if err != nil {
		t.Fatal(err)
	}
	return &adminFixture{prov: prov, gate: g, tr: tr, view: view,
		mux: adminMux(newProbes(health.NewServer()), reg, statusSource{Replica: "self", Gate: g, Tracker: tr, View: view})}
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
	Name          string   `json:"name"`
	State         string   `json:"state"`
	Ready         bool     `json:"ready"`
	Held          int64    `json:"held"`
	InFlight      int64    `json:"inFlight"`
	RequestsTotal uint64   `json:"requestsTotal"`
	RequestRate   float64  `json:"requestRate"`
	Wakeups       uint64   `json:"wakeups"`
	LastSeen      *string  `json:"lastSeen"`
	Merged        counted  `json:"merged"`
	ReportedBy    []string `json:"reportedBy"`
}

// counted is /status's merged counts as a client reads them.
type counted struct {
	Held          int64   `json:"held"`
	InFlight      int64   `json:"inFlight"`
	RequestsTotal uint64  `json:"requestsTotal"`
	RequestRate   float64 `json:"requestRate"`
	LastSeen      *string `json:"lastSeen"`
}

// status fetches /status, checks every row has exactly the documented fields, and decodes
// its rows.
func (f *adminFixture) status(t *testing.T) []statusRow {
	t.Helper()
	return f.statusDoc(t).Targets
}

// statusDocument is /status as a client reads it.
type statusDocument struct {
	Replica string      `json:"replica"`
	Time    string      `json:"time"`
	Peers   []peerRow   `json:"peers"`
	Targets []statusRow `json:"targets"`
}

// peerRow is one entry of /status's peers as a client reads it.
type peerRow struct {
	Replica    string `json:"replica"`
	Address    string `json:"address"`
	Live       bool   `json:"live"`
	LastReport string `json:"lastReport"`
	StaleFor   string `json:"staleFor"`
	DropAfter  string `json:"dropAfter"`
	Reports    uint64 `json:"reports"`
	Targets    int    `json:"targets"`
	Goodbye    bool   `json:"goodbye"`
}

// statusDoc fetches /status, checks the document, every row and every peer have exactly
// the documented fields, and decodes it.
func (f *adminFixture) statusDoc(t *testing.T) statusDocument {
	t.Helper()
	rec := f.get(t, "/status")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("/status: %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	top := decodeObject(t, "/status", rec.Body.Bytes())
	checkFields(t, "/status", top, "peers", "replica", "targets", "time")
	var rows, peers []json.RawMessage
	for _, v := range []struct {
		key string
		dst *[]json.RawMessage
	}{{"targets", &rows}, {"peers", &peers}} {
		if err := json.Unmarshal(top[v.key], v.dst); err != nil {
			t.Fatalf("/status %s: %v", v.key, err)
		}
	}
	for i, b := range rows {
		what := fmt.Sprintf("/status row %d", i)
		row := decodeObject(t, what, b)
		checkFields(t, what, row, "held", "inFlight", "lastSeen", "merged", "name", "ready",
			"reportedBy", "requestRate", "requestsTotal", "state", "wakeups")
		checkFields(t, what+" merged", decodeObject(t, what+" merged", row["merged"]),
			"held", "inFlight", "lastSeen", "requestRate", "requestsTotal")
	}
	for i, b := range peers {
		what := fmt.Sprintf("/status peer %d", i)
		checkFields(t, what, decodeObject(t, what, b), "address", "dropAfter", "goodbye", "lastReport", "live",
			"replica", "reports", "staleFor", "targets")
	}
	var doc statusDocument
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("/status: %v", err)
	}
	return doc
}

// decodeObject decodes a JSON object into its fields.
func decodeObject(t *testing.T, what string, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b)
	}
	return m
}

// checkFields fails t unless obj has exactly the fields want (sorted).
func checkFields(t *testing.T, what string, obj map[string]json.RawMessage, want ...string) {
	t.Helper()
	if got := slices.Sorted(maps.Keys(obj)); !slices.Equal(got, want) {
		t.Errorf("%s fields %v, want %v", what, got, want)
	}
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
	// Without peers, merged is this replica's own counts.
	want := []statusRow{
		{Name: "alpha", State: "ready", Ready: true, InFlight: 1, RequestsTotal: 2, RequestRate: perMinute(2),
			Merged: counted{InFlight: 1, RequestsTotal: 2, RequestRate: perMinute(2)}, ReportedBy: []string{"self"}},
		{Name: "beta", State: "waking", Held: 1, InFlight: 1, RequestsTotal: 1, RequestRate: perMinute(1), Wakeups: 1,
			Merged: counted{Held: 1, InFlight: 1, RequestsTotal: 1, RequestRate: perMinute(1)}, ReportedBy: []string{"self"}},
		{Name: "gamma", State: "idle", ReportedBy: []string{}},
	}
	checkRows(t, rows, want, start)

	f.prov.setReady("beta", true)
	d := <-held
	f.gate.Finish(d)
	if d.Outcome != gate.Released {
		t.Fatalf("held request: %v, want released", d.Outcome)
	}
	want[1] = statusRow{Name: "beta", State: "ready", Ready: true, RequestsTotal: 1, RequestRate: perMinute(1), Wakeups: 1,
		Merged: counted{RequestsTotal: 1, RequestRate: perMinute(1)}, ReportedBy: []string{"self"}}
	checkRows(t, f.status(t), want, start)
}

// checkRows compares rows with want, except lastSeen (own and merged): set (UTC, RFC 3339,
// not before start) exactly for rows with requests.
func checkRows(t *testing.T, rows, want []statusRow, start time.Time) {
	t.Helper()
	for i, r := range rows {
		checkLastSeen(t, r.Name, r.LastSeen, r.RequestsTotal, start)
		checkLastSeen(t, r.Name+" merged", r.Merged.LastSeen, r.Merged.RequestsTotal, start)
		rows[i].LastSeen, rows[i].Merged.LastSeen = nil, nil
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("/status (-want +got):\n%s", diff)
	}
}

// checkLastSeen checks a lastSeen: null without requests, else UTC RFC 3339 between start
// and now.
func checkLastSeen(t *testing.T, what string, lastSeen *string, requests uint64, start time.Time) {
	t.Helper()
	switch {
	case requests == 0 && lastSeen != nil:
		t.Errorf("%s: lastSeen %q without requests", what, *lastSeen)
	case requests > 0 && lastSeen == nil:
		t.Errorf("%s: lastSeen null after requests", what)
	case lastSeen != nil:
		ls, err := time.Parse(time.RFC3339Nano, *lastSeen)
		if err != nil || !strings.HasSuffix(*lastSeen, "Z") || ls.Before(start.Truncate(time.Second)) || ls.After(time.Now()) {
			t.Errorf("%s: lastSeen %q (%v): want UTC RFC 3339 between %v and now", what, *lastSeen, err, start)
		}
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
