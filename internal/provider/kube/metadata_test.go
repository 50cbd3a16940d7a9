package kube

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wakegate/wakegate/internal/gate"
)

func TestParseRoutingValid(t *testing.T) {
	defaults := gate.Policy{HoldTimeout: gate.DefaultHoldTimeout, MaxHeld: gate.DefaultMaxHeld}
	tests := []struct {
		name string
		md   map[string]string
		want Routing
	}{
		{"minimal", map[string]string{KeyHosts: "app.example.com", KeyService: "app"},
			Routing{Hosts: []string{"app.example.com"}, PathPrefixes: []string{"/"}, Service: "app", Policy: defaults}},
		{"everything", map[string]string{
			KeyHosts: " app.example.com , *.apps.example.com,localhost:8080", KeyPathPrefixes: "/ui, /api/",
			KeyHeaders: "x-tenant=blue, :method=GET,x-empty=", KeyService: "app-ui", KeyPort: "http",
			KeyHoldTimeout: "90s", KeyMaxHeld: "5", KeyWaitingPage: "immediate",
			"scalerAddress": "wakegate:9090", "metric": "concurrency", "targetValue": "oops"},
			Routing{Hosts: []string{"app.example.com", "*.apps.example.com", "localhost:8080"}, PathPrefixes: []string{"/ui", "/api/"},
				Headers: map[string]string{"x-tenant": "blue", ":method": "GET", "x-empty": ""}, Service: "app-ui", Port: "http",
				Policy: gate.Policy{HoldTimeout: 90 * time.Second, MaxHeld: 5, WaitingPage: gate.PageImmediate}}},
		{"numeric port normalised", map[string]string{KeyHosts: "a.b", KeyService: "s", KeyPort: "0080"},
			Routing{Hosts: []string{"a.b"}, PathPrefixes: []string{"/"}, Service: "s", Port: "80", Policy: defaults}},
		{"waiting page off", map[string]string{KeyHosts: "a.b", KeyService: "s", KeyWaitingPage: "off"},
			Routing{Hosts: []string{"a.b"}, PathPrefixes: []string{"/"}, Service: "s",
				Policy: gate.Policy{HoldTimeout: gate.DefaultHoldTimeout, MaxHeld: gate.DefaultMaxHeld, WaitingPage: gate.PageOff}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRouting(tt.md)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRouting (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRoutingErrors(t *testing.T) {
	ok := map[string]string{KeyHosts: "app.example.com", KeyService: "app"}
	with := func(kv ...string) map[string]string {
		md := map[string]string{}
		for k, v := range ok {
			md[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			md[kv[i]] = kv[i+1]
		}
		return md
	}
	tests := []struct {
		name       string
		md         map[string]string
		key, value string // the key and value the error must name
		reason     string
	}{
		{"hosts missing", map[string]string{KeyService: "app"}, KeyHosts, "", "is required"},
		{"service missing", map[string]string{KeyHosts: "a.b"}, KeyService, "", "is required"},
		{"hosts empty", with(KeyHosts, " "), KeyHosts, " ", "is empty"},
		{"hosts empty item", with(KeyHosts, "a.b,,c.d"), KeyHosts, "a.b,,c.d", "empty item at position 2"},
		{"host invalid", with(KeyHosts, "a.b,bad host"), KeyHosts, "a.b,bad host", "invalid character"},
		{"host wildcard in the middle", with(KeyHosts, "a.*.b"), KeyHosts, "a.*.b", "invalid"},
		{"host port zero", with(KeyHosts, "a.b:0"), KeyHosts, "a.b:0", "invalid port"},
		{"host twice", with(KeyHosts, "A.b,a.B"), KeyHosts, "A.b,a.B", "twice"},
		{"prefix without slash", with(KeyPathPrefixes, "/a,b"), KeyPathPrefixes, "/a,b", `"b", which does not start`},
		{"prefix twice", with(KeyPathPrefixes, "/a,/a"), KeyPathPrefixes, "/a,/a", "twice"},
		{"prefixes empty", with(KeyPathPrefixes, ""), KeyPathPrefixes, "", "is empty"},
		{"header without =", with(KeyHeaders, "x-a=1,x-b"), KeyHeaders, "x-a=1,x-b", "not name=value"},
		{"header bad name", with(KeyHeaders, "x a=1"), KeyHeaders, "x a=1", "invalid header name"},
		{"header empty name", with(KeyHeaders, "=1"), KeyHeaders, "=1", "invalid header name"},
		{"header colon name", with(KeyHeaders, "a:b=1"), KeyHeaders, "a:b=1", "invalid header name"},
		{"header twice", with(KeyHeaders, "X-A=1,x-a=2"), KeyHeaders, "X-A=1,x-a=2", "twice"},
		{"service bad", with(KeyService, "App_UI"), KeyService, "App_UI", "not a valid Service name"},
		{"service empty", with(KeyService, ""), KeyService, "", "is empty"},
		{"port zero", with(KeyPort, "0"), KeyPort, "0", "1-65535"},
		{"port too big", with(KeyPort, "70000"), KeyPort, "70000", "1-65535"},
		{"port bad name", with(KeyPort, "-http"), KeyPort, "-http", "neither"},
		{"port empty", with(KeyPort, ""), KeyPort, "", "is empty"},
		{"holdTimeout bad", with(KeyHoldTimeout, "soon"), KeyHoldTimeout, "soon", "not a duration"},
		{"holdTimeout zero", with(KeyHoldTimeout, "0s"), KeyHoldTimeout, "0s", "positive"},
		{"holdTimeout negative", with(KeyHoldTimeout, "-1s"), KeyHoldTimeout, "-1s", "positive"},
		{"maxHeld zero", with(KeyMaxHeld, "0"), KeyMaxHeld, "0", "at least 1"},
		{"maxHeld not int", with(KeyMaxHeld, "1.5"), KeyMaxHeld, "1.5", "not an integer"},
		{"waitingPage bad", with(KeyWaitingPage, "always"), KeyWaitingPage, "always", "not one of"},
		{"waitingPage empty", with(KeyWaitingPage, ""), KeyWaitingPage, "", "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRouting(tt.md)
			if err == nil {
				t.Fatal("ParseRouting succeeded")
			}
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *MetadataError", err)
			}
			if me.Key != tt.key || me.Value != tt.value {
				t.Errorf("error names key %q value %q, want %q %q", me.Key, me.Value, tt.key, tt.value)
			}
			msg := err.Error()
			for _, want := range []string{`"` + tt.key + `"`, tt.reason} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}

func TestParseRoutingReportsEveryBadKey(t *testing.T) {
	_, err := ParseRouting(map[string]string{KeyHosts: "bad host", KeyPort: "x_y", KeyMaxHeld: "-3"})
	if err == nil {
		t.Fatal("ParseRouting succeeded")
	}
	for _, key := range []string{KeyHosts, KeyService, KeyPort, KeyMaxHeld} {
		if !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("error %q does not name key %q", err, key)
		}
	}
}

func TestMetadataErrorTruncatesLongValues(t *testing.T) {
	long := strings.Repeat("x", 500)
	msg := (&MetadataError{Key: KeyHosts, Value: long, Reason: "is bad"}).Error()
	if len(msg) > 120 || !strings.Contains(msg, "...") {
		t.Errorf("message not truncated: %q", msg)
	}
}

func TestIsRouting(t *testing.T) {
	tests := []struct {
		md   map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"scalerAddress": "x:1", "metric": "concurrency"}, false},
		{map[string]string{KeyService: "s"}, true},
		{map[string]string{KeyHosts: ""}, true},
		{map[string]string{KeyHoldTimeout: "1s"}, false}, // a policy key alone routes nothing
	}
	for _, tt := range tests {
		if got := IsRouting(tt.md); got != tt.want {
			t.Errorf("IsRouting(%v) = %v, want %v", tt.md, got, tt.want)
		}
	}
}
