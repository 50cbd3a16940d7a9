package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakegate/wakegate/internal/config"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p90 of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p99 of ten is the last", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p100 is the max", ms(1, 2, 3), 100, 3 * time.Millisecond},
		{"tiny p is the min", ms(1, 2, 3), 0.001, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // substring of the error; "" for none
	}{
		{"defaults", nil, ""},
		{"one scenario", []string{"-scenarios", "held", "-targets", "10", "-held", "100"}, ""},
		{"unknown scenario", []string{"-scenarios", "warm,cold"}, `unknown scenario "cold"`},
		{"bad rate", []string{"-rates", "500,fast"}, `"fast" is not a rate`},
		{"zero rate", []string{"-rates", "0"}, `"0" is not a rate`},
		{"fewer requests than targets", []string{"-targets", "100", "-held", "10"}, "-held 10"},
		{"short duration", []string{"-duration", "10ms"}, "-duration 10ms"},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
		{"help", []string{"-h"}, "-ready-interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestHeldConfigLoads checks that wakegate accepts the held scenario's configuration.
func TestHeldConfigLoads(t *testing.T) {
	o := heldOptions{Targets: 1000, Requests: 10001, ReadyInterval: 100 * time.Millisecond, HoldTimeout: 90 * time.Second}
	path := filepath.Join(t.TempDir(), "wakegate.yaml")
	if err := heldConfig(o, "127.0.0.1:1").WriteFile(path); err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadLocal(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) != 1000 {
		t.Fatalf("%d targets, want 1000", len(c.Targets))
	}
	got := c.Targets[999]
	if got.Name != "t1000" || !cmp.Equal(got.Match.Hosts, []string{"t1000.bench"}) || got.Readiness.TCP != "127.0.0.1:1" {
		t.Errorf("last target %+v, want t1000 on t1000.bench probing 127.0.0.1:1", got)
	}
	if got.MaxHeld != 11 || got.HoldTimeout != 90*time.Second || got.Readiness.Interval != 100*time.Millisecond {
		t.Errorf("last target maxHeld %d, holdTimeout %v, interval %v; want 11, 90s, 100ms",
			got.MaxHeld, got.HoldTimeout, got.Readiness.Interval)
	}
}

func TestReadProc(t *testing.T) {
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS == 0 || m.PeakRSS < m.RSS {
		t.Errorf("memory %+v: want 0 < RSS <= peak", m)
	}
	if _, err := readCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := readMemory(-1); err == nil {
		t.Error("readMemory(-1): no error")
	}
}
