package gate

import (
	"strings"
	"testing"
)

func TestOutcome(t *testing.T) {
	tests := []struct {
		o    Outcome
		name string
		cont bool
	}{
		{Pass, "pass", true},
		{Ready, "ready", true},
		{Released, "released", true},
		{TimedOut, "timeout", false},
		{Overload, "overload", false},
		{WaitPage, "waiting_page", false},
		{Draining, "draining", false},
		{Canceled, "canceled", false},
		{Outcome(99), "outcome(99)", false},
		{Outcome(-1), "outcome(-1)", false},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.name {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(tt.o), got, tt.name)
		}
		if got := tt.o.Continue(); got != tt.cont {
			t.Errorf("%s.Continue() = %v, want %v", tt.name, got, tt.cont)
		}
	}
}

func TestParseWaitingPage(t *testing.T) {
	tests := []struct {
		in   string
		want WaitingPage
		name string
	}{
		{"", PageOnTimeout, "onTimeout"},
		{"onTimeout", PageOnTimeout, "onTimeout"},
		{"immediate", PageImmediate, "immediate"},
		{"off", PageOff, "off"},
	}
	for _, tt := range tests {
		got, err := ParseWaitingPage(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseWaitingPage(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if s := got.String(); s != tt.name {
			t.Errorf("%v.String() = %q, want %q", got, s, tt.name)
		}
		if back, err := ParseWaitingPage(got.String()); err != nil || back != got {
			t.Errorf("round trip of %v: %v, %v", got, back, err)
		}
	}
	for _, bad := range []string{"Immediate", "on", "true", " off"} {
		_, err := ParseWaitingPage(bad)
		if err == nil || !strings.Contains(err.Error(), "waitingPage "+`"`+bad+`"`) {
			t.Errorf("ParseWaitingPage(%q) = %v, want an error naming the value", bad, err)
		}
	}
}
