package scaler

import (
	"github.com/wakegate/wakegate/internal/triggermeta"

	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/wakegate/wakegate/internal/activity"
)

// Keys read from a trigger's scalerMetadata. KEDA passes all of the trigger's metadata
// (scalerAddress, TLS settings, …), so every other key is ignored.
const (
	KeyMetric       = "metric"       // MetricRequestRate (default) or MetricConcurrency
	KeyTargetValue  = "targetValue"  // per-replica target, a number > 0
	KeyWindow       = "window"       // request-rate window, a Go duration in whole seconds
	KeyActiveWithin = "activeWithin" // how long after the last request the target stays active
)

// Defaults used when a key is absent. An empty or malformed value is an error, never a default.
const (
	DefaultTargetValue  = 100.0
	DefaultWindow       = time.Minute // lowered to the server's longest window if that is shorter
	DefaultActiveWithin = time.Minute
)

// Metric selects what GetMetrics reports for a trigger.
type Metric string

const (
	// MetricRequestRate is requests per second averaged over the trigger's window.
	MetricRequestRate Metric = "requestRate"
	// MetricConcurrency is the number of requests in flight, held ones included.
	MetricConcurrency Metric = "concurrency"
)

// Metric names announced by GetMetricSpec. They are stable: HPA objects refer to them
// (KEDA adds its own "sN-" prefix in front).
const (
	MetricNameRequestRate = "wakegate-request-rate"
	MetricNameConcurrency = "wakegate-concurrency"
)

// Name is the metric name GetMetricSpec announces for m.
func (m Metric) Name() string {
	if m == MetricConcurrency {
		return MetricNameConcurrency
	}
	return MetricNameRequestRate
}

// Trigger is one KEDA trigger's wakegate settings, parsed from its scalerMetadata.
type Trigger struct {
	Metric       Metric
	TargetValue  float64       // per replica (KEDA's default metricType AverageValue)
	Window       time.Duration // whole seconds, between 1s and the server's longest window
	ActiveWithin time.Duration // 0: active only while requests are in flight or held
}

// MetadataError says which trigger metadata key holds which unusable value, and why.
type MetadataError = triggermeta.Error

// ParseTrigger reads a Trigger from md, a trigger's scalerMetadata. Absent keys take their
// defaults; unknown keys are ignored; the first unusable value is returned as a
// *MetadataError. maxWindow is the longest window allowed (activity.DefaultRetention if
// ≤ 0). ParseTrigger is pure and safe for concurrent use.
func ParseTrigger(md map[string]string, maxWindow time.Duration) (Trigger, error) {
	if maxWindow <= 0 {
		maxWindow = activity.DefaultRetention
	}
	t := Trigger{
		Metric:       MetricRequestRate,
		TargetValue:  DefaultTargetValue,
		Window:       min(DefaultWindow, maxWindow),
		ActiveWithin: DefaultActiveWithin,
	}
	fields := []struct {
		key   string
		parse func(string) string // returns the reason the value is unusable, or ""
	}{
		{KeyMetric, func(v string) (r string) { t.Metric, r = parseMetric(v); return r }},
		{KeyTargetValue, func(v string) (r string) { t.TargetValue, r = parseTarget(v); return r }},
		{KeyWindow, func(v string) (r string) { t.Window, r = parseWindow(v, maxWindow); return r }},
		{KeyActiveWithin, func(v string) (r string) { t.ActiveWithin, r = parseActiveWithin(v); return r }},
	}
	for _, f := range fields {
		v, ok := md[f.key]
		if !ok {
			continue
		}
		if reason := f.parse(strings.TrimSpace(v)); reason != "" {
			return Trigger{}, &MetadataError{Key: f.key, Value: v, Reason: reason}
		}
	}
	return t, nil
}

func parseMetric(v string) (Metric, string) {
	switch m := Metric(v); m {
	case MetricRequestRate, MetricConcurrency:
		return m, ""
	}
	return "", fmt.Sprintf("is not one of %s, %s", MetricRequestRate, MetricConcurrency)
}

func parseTarget(v string) (float64, string) {
	f, err := strconv.ParseFloat(v, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, "is out of range"
	case err != nil:
		return 0, "is not a number"
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, "is not a finite number"
	case f <= 0:
		return 0, "must be greater than 0"
	}
	return f, ""
}

func parseWindow(v string, maxWindow time.Duration) (time.Duration, string) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, `is not a duration (such as "1m" or "30s")`
	case d < time.Second:
		return 0, "must be at least 1s"
	case d > maxWindow:
		return 0, fmt.Sprintf("must be at most %s (the activity tracker's retention)", maxWindow)
	case d%time.Second != 0:
		return 0, "must be a whole number of seconds"
	}
	return d, ""
}

func parseActiveWithin(v string) (time.Duration, string) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, `is not a duration (such as "1m" or "0s")`
	case d < 0:
		return 0, "must not be negative"
	}
	return d, ""
}

// active reports whether st makes the target active at now: something is in flight or
// held, or the last request was seen less than ActiveWithin ago.
func (t Trigger) active(st activity.Stats, now time.Time) bool {
	return st.Busy() || t.expiresIn(st, now) > 0
}

// expiresIn is how long an idle target stays active through its last-seen time: > 0 while
// a request was seen less than ActiveWithin before now, else 0.
func (t Trigger) expiresIn(st activity.Stats, now time.Time) time.Duration {
	if st.LastSeen.IsZero() {
		return 0
	}
	return max(t.ActiveWithin-now.Sub(st.LastSeen), 0)
}
