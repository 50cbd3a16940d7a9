package app

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
	"github.com/wakegate/wakegate/scaler"
)

// dashboardPath is the Grafana dashboard shipped in deploy/grafana.
const dashboardPath = "../../deploy/grafana/wakegate-dashboard.json"

// scrapeLabels are the labels Prometheus adds to every scraped series.
var scrapeLabels = []string{"instance", "job"}

// registeredSeries returns every series name a real stack's registry can expose, with its
// label names: the names of its collectors' descriptors, and for histograms the _bucket
// (with le), _sum and _count series. A held request that times out makes the hold
// histogram show itself as one in the registry's output.
func registeredSeries(t *testing.T) map[string][]string {
	t.Helper()
	target := gate.Target{Rule: route.Rule{Target: "t", Hosts: []string{"t.test"}}, Policy: gate.Policy{HoldTimeout: time.Millisecond}}
	s, err := newStack(stackConfig{Options: ServerOptions{ReplicaID: "dash", PeerStaleness: time.Minute, MaxHeld: 10, RetryAfter: time.Second},
		Logger: slog.New(slog.DiscardHandler), Tracker: activity.New(0), Provider: newFakeProvider(), Targets: []gate.Target{target},
		Resolver: scaler.NameResolver(func(string) bool { return false })})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.gate.Close)
	s.gate.Finish(s.gate.Check(t.Context(), gate.Request{Request: route.Request{Authority: "t.test", Path: "/"}}))
	descs := make(chan *prometheus.Desc)
	go func() { s.reg.Describe(descs); close(descs) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
	out := map[string][]string{}
	for d := range descs {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read descriptor %s", d)
		}
		out[m[1]] = strings.FieldsFunc(m[2], func(r rune) bool { return r == ',' || r == ' ' })
	}
	families, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if name, labels := f.GetName(), out[f.GetName()]; f.GetType() == dto.MetricType_HISTOGRAM {
			out[name+"_bucket"] = append(slices.Clone(labels), "le")
			out[name+"_sum"], out[name+"_count"] = labels, labels
		}
	}
	if _, ok := out["wakegate_hold_duration_seconds_bucket"]; !ok {
		t.Fatal("the hold histogram did not show up as a histogram")
	}
	return out
}

// TestDashboardSeries: every query of deploy/grafana/wakegate-dashboard.json names only
// series a real wakegate registers, selects and groups only by their labels (or the ones
// Prometheus adds), and every wakegate_ series is on the dashboard.
func TestDashboardSeries(t *testing.T) {
	t.Parallel()
	series := registeredSeries(t)
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	queries := dashboardQueries(dash, "")
	if len(queries) < 10 {
		t.Fatalf("%s: found %d queries, want the dashboard's", dashboardPath, len(queries))
	}
	used := map[string]bool{}
	for where, q := range queries {
		names, err := checkQuery(q, series)
		if err != nil {
			t.Errorf("%s %s: %v\n\t%s", dashboardPath, where, err, q)
		}
		for _, n := range names {
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(series)) {
		if strings.HasPrefix(name, "wakegate_") && !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_sum") &&
			!strings.HasSuffix(name, "_count") && !used[name] {
			t.Errorf("%s: no panel shows %s", dashboardPath, name)
		}
	}
}

// dashboardQueries returns every PromQL query in a decoded dashboard (panel targets'
// expr, templating queries), keyed by where it is.
func dashboardQueries(v any, path string) map[string]string {
	out := map[string]string{}
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			p := path + "/" + k
			if s, ok := child.(string); ok && (k == "expr" || (k == "query" && strings.Contains(path, "templating"))) {
				if s != "prometheus" { // the datasource variable's plugin id
					out[p] = s
				}
				continue
			}
			maps.Copy(out, dashboardQueries(child, p))
		}
	case []any:
		for i, child := range v {
			maps.Copy(out, dashboardQueries(child, fmt.Sprintf("%s[%d]", path, i)))
		}
	}
	return out
}

var (
	// seriesName matches the families a wakegate registry holds: its own and the Go and
	// process collectors'.
	seriesName   = regexp.MustCompile(`\b(?:wakegate|go|process)_[a-zA-Z0-9_]*`)
	quoted       = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	selector     = regexp.MustCompile(`\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	matcherLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	grouping     = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	labelValues  = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{[^}]*\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
)

// checkQuery returns the series names q uses, and an error if one is not in series, if q
// uses none, or if a selector, grouping or label_values names a label none of its series
// has (Prometheus's scrape labels aside).
func checkQuery(q string, series map[string][]string) ([]string, error) {
	bare := quoted.ReplaceAllString(q, `""`)
	names := seriesName.FindAllString(bare, -1)
	if len(names) == 0 {
		return nil, fmt.Errorf("uses no wakegate series")
	}
	allowed := map[string]bool{}
	for _, l := range scrapeLabels {
		allowed[l] = true
	}
	var errs []string
	for _, n := range names {
		labels, ok := series[n]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s is not a series wakegate registers", n))
		}
		for _, l := range labels {
			allowed[l] = true
		}
	}
	for _, m := range selector.FindAllStringSubmatch(bare, -1) {
		for _, lm := range matcherLabel.FindAllStringSubmatch(m[2], -1) {
			if !slices.Contains(series[m[1]], lm[1]) && !slices.Contains(scrapeLabels, lm[1]) {
				errs = append(errs, fmt.Sprintf("%s has no label %q", m[1], lm[1]))
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(bare, -1) {
		for _, l := range strings.FieldsFunc(g[1], func(r rune) bool { return r == ',' || r == ' ' }) {
			if !allowed[l] {
				errs = append(errs, fmt.Sprintf("groups by %q, a label of none of its series", l))
			}
		}
	}
	for _, lv := range labelValues.FindAllStringSubmatch(bare, -1) {
		if !slices.Contains(series[lv[1]], lv[2]) && !slices.Contains(scrapeLabels, lv[2]) {
			errs = append(errs, fmt.Sprintf("label_values: %s has no label %q", lv[1], lv[2]))
		}
	}
	if len(errs) > 0 {
		return names, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return names, nil
}

// TestCheckQuery: the dashboard checker accepts real series and labels and rejects made-up
// ones, so TestDashboardSeries can fail.
func TestCheckQuery(t *testing.T) {
	t.Parallel()
	series := map[string][]string{
		"wakegate_requests_total":               {"target", "outcome"},
		"wakegate_hold_duration_seconds_bucket": {"target", "outcome", "le"},
		"wakegate_peer_live":                    nil,
	}
	for _, tt := range []struct {
		q    string
		want string // substring of the error; "" for none
	}{
		{`sum by (target, outcome) (rate(wakegate_requests_total{target=~"$target", job=~"$job"}[5m]))`, ""},
		{`histogram_quantile(0.99, sum by (le) (rate(wakegate_hold_duration_seconds_bucket[5m])))`, ""},
		{`label_values(wakegate_requests_total{job=~"$job"}, target)`, ""},
		{`min(wakegate_peer_live{instance="wakegate_nope_total:8080"})`, ""}, // names inside strings are values
		{`rate(wakegate_request_total[5m])`, "wakegate_request_total is not a series"},
		{`sum(rate(wakegate_requests_total{pod="x"}[5m]))`, `no label "pod"`},
		{`sum by (reason) (rate(wakegate_requests_total[5m]))`, `groups by "reason"`},
		{`label_values(wakegate_peer_live, target)`, `has no label "target"`},
		{`sum(rate(http_requests_total[5m]))`, "uses no wakegate series"},
	} {
		_, err := checkQuery(tt.q, series)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("checkQuery(%s) = %v, want nil", tt.q, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("checkQuery(%s) = %v, want an error with %q", tt.q, err, tt.want)
		}
	}
}
