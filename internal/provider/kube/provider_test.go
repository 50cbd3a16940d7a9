package kube

import (
	"strings"
	"testing"
	"time"

	kedafake "github.com/kedacore/keda/v2/pkg/generated/clientset/versioned/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
)

func TestNewRejectsBadOptions(t *testing.T) {
	kube, keda := k8sfake.NewClientset(), kedafake.NewSimpleClientset()
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"no clients", Options{}, []string{"Kube and KEDA clients are required"}},
		{"bad probe mode", Options{Kube: kube, KEDA: keda, ReleaseProbe: "http"}, []string{`release probe "http"`}},
		{"negative budget", Options{Kube: kube, KEDA: keda, ProbeBudget: -time.Second}, []string{"probe budget -1s"}},
		{"bad namespaces", Options{Kube: kube, KEDA: keda, Namespaces: []string{"ok", "Not_OK", ""}},
			[]string{`namespace "Not_OK"`, `namespace ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	p, err := New(Options{Kube: k8sfake.NewClientset(), KEDA: kedafake.NewSimpleClientset(), Namespaces: []string{"b", "a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.shutdown)
	if p.opts.ReleaseProbe != ProbeTCP || p.opts.ProbeBudget != DefaultProbeBudget || p.opts.Dial == nil || p.log == nil {
		t.Errorf("defaults not applied: %+v", p.opts)
	}
	if got := strings.Join(p.opts.Namespaces, ","); got != "a,b" {
		t.Errorf("namespaces = %q, want a,b", got)
	}
}

func TestParseProbeMode(t *testing.T) {
	for in, want := range map[string]ProbeMode{"": ProbeTCP, "tcp": ProbeTCP, "none": ProbeNone} {
		if got, err := ParseProbeMode(in); err != nil || got != want {
			t.Errorf("ParseProbeMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseProbeMode("TCP"); err == nil {
		t.Error(`ParseProbeMode("TCP") succeeded`)
	}
}
