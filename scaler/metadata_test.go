package scaler

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTrigger(t *testing.T) {
	defaults := Trigger{Metric: MetricRequestRate, TargetValue: 100, Window: time.Minute, ActiveWithin: time.Minute}
	with := func(f func(*Trigger)) Trigger { t := defaults; f(&t); return t }
	tests := []struct {
		name      string
		md        map[string]string
		maxWindow time.Duration
		want      Trigger
	}{
		{name: "nil metadata", want: defaults},
		{name: "unknown keys ignored", md: map[string]string{"scalerAddress": "x:9090", "tlsClientCert": "…", "Metric": "bogus"}, want: defaults},
		{name: "concurrency", md: map[string]string{"metric": "concurrency"}, want: with(func(t *Trigger) { t.Metric = MetricConcurrency })},
		{name: "request rate spelled out", md: map[string]string{"metric": "requestRate"}, want: defaults},
		{name: "fractional target", md: map[string]string{"targetValue": "0.5"}, want: with(func(t *Trigger) { t.TargetValue = 0.5 })},
		{name: "spaces trimmed", md: map[string]string{"targetValue": " 20 ", "window": " 30s"}, want: with(func(t *Trigger) { t.TargetValue, t.Window = 20, 30*time.Second })},
		{name: "window at the minimum", md: map[string]string{"window": "1s"}, want: with(func(t *Trigger) { t.Window = time.Second })},
		{name: "window at the retention", md: map[string]string{"window": "10m"}, want: with(func(t *Trigger) { t.Window = 10 * time.Minute })},
		{name: "activeWithin zero", md: map[string]string{"activeWithin": "0s"}, want: with(func(t *Trigger) { t.ActiveWithin = 0 })},
		{name: "activeWithin long", md: map[string]string{"activeWithin": "2h"}, want: with(func(t *Trigger) { t.ActiveWithin = 2 * time.Hour })},
		{name: "default window lowered to a short retention", maxWindow: 30 * time.Second, want: with(func(t *Trigger) { t.Window = 30 * time.Second })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTrigger(tc.md, tc.maxWindow)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("ParseTrigger (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseTriggerErrors(t *testing.T) {
	tests := []struct {
		key, value string
		reason     string
	}{
		{"metric", "rps", "is not one of requestRate, concurrency"},
		{"metric", "", "is not one of"},
		{"metric", "RequestRate", "is not one of"},
		{"targetValue", "abc", "is not a number"},
		{"targetValue", "", "is not a number"},
		{"targetValue", "0", "must be greater than 0"},
		{"targetValue", "-3", "must be greater than 0"},
		{"targetValue", "NaN", "is not a finite number"},
		{"targetValue", "+Inf", "is not a finite number"},
		{"window", "60", "is not a duration"},
		{"window", "500ms", "must be at least 1s"},
		{"window", "-1m", "must be at least 1s"},
		{"window", "11m", "must be at most 10m0s"},
		{"window", "1500ms", "must be a whole number of seconds"},
		{"activeWithin", "soon", "is not a duration"},
		{"activeWithin", "-1s", "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			_, err := ParseTrigger(map[string]string{tc.key: tc.value}, 0)
			me, ok := errors.AsType[*MetadataError](err)
			if !ok {
				t.Fatalf("err = %v, want a *MetadataError", err)
			}
			if me.Key != tc.key || me.Value != tc.value {
				t.Errorf("error names %q=%q, want %q=%q", me.Key, me.Value, tc.key, tc.value)
			}
			msg := err.Error()
			for _, part := range []string{`metadata key "` + tc.key + `"`, `"` + tc.value + `"`, tc.reason} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
		})
	}
}

func TestMetadataErrorTruncatesLongValues(t *testing.T) {
	_, err := ParseTrigger(map[string]string{"metric": strings.Repeat("x", 10_000)}, 0)
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("err = %.300v, want a short message", err)
	}
}

func FuzzParseTrigger(f *testing.F) {
	f.Add("requestRate", "100", "1m", "1m")
	f.Add("concurrency", "0.5", "1s", "0s")
	f.Add("", "NaN", "1500ms", "-1s")
	f.Add("x", "1e400", "10m1s", "99999999h")
	f.Fuzz(func(t *testing.T, metric, target, window, within string) {
		md := map[string]string{"metric": metric, "targetValue": target, "window": window, "activeWithin": within}
		tr, err := ParseTrigger(md, 10*time.Minute)
		if err != nil {
			me, ok := errors.AsType[*MetadataError](err)
			if !ok || md[me.Key] != me.Value || me.Reason == "" {
				t.Fatalf("error %v does not name a key and its value", err)
			}
			return
		}
		if tr.Metric != MetricRequestRate && tr.Metric != MetricConcurrency {
			t.Errorf("metric %q accepted", tr.Metric)
		}
		if !(tr.TargetValue > 0) || math.IsInf(tr.TargetValue, 0) {
			t.Errorf("targetValue %v accepted", tr.TargetValue)
		}
		if tr.Window < time.Second || tr.Window > 10*time.Minute || tr.Window%time.Second != 0 {
			t.Errorf("window %v accepted", tr.Window)
		}
		if tr.ActiveWithin < 0 {
			t.Errorf("activeWithin %v accepted", tr.ActiveWithin)
		}
	})
}
