package kube

import (
	"github.com/wakegate/wakegate/internal/triggermeta"

	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

// FuzzParseRouting checks that ParseRouting never panics, that what it accepts the router
// and the gate accept too, and that each error names a routing key and quotes its value.
func FuzzParseRouting(f *testing.F) {
	f.Add("app.example.com", "/", "x-a=1", "app", "http", "60s", "1000", "onTimeout", uint8(0xff))
	f.Add("*.x.y,a.b:80", "/a,/b", ":method=GET", "svc", "8080", "1ms", "1", "immediate", uint8(0xff))
	f.Add("", "", "", "", "", "", "", "", uint8(0))
	f.Add("a..b", "x", "=", "A", "0", "-1s", "0", "on", uint8(0xff))
	f.Add("[::1]:443", "/,/", "a=b,A=c", "s", "99999", "1h", "9999999999999999999", "off", uint8(0x7f))
	f.Fuzz(func(t *testing.T, hosts, prefixes, headers, service, port, hold, maxHeld, page string, present uint8) {
		md := map[string]string{}
		for i, kv := range [][2]string{{KeyHosts, hosts}, {KeyPathPrefixes, prefixes}, {KeyHeaders, headers}, {KeyService, service},
			{KeyPort, port}, {KeyHoldTimeout, hold}, {KeyMaxHeld, maxHeld}, {KeyWaitingPage, page}} {
			if present&(1<<i) != 0 {
				md[kv[0]] = kv[1]
			}
		}
		r, err := ParseRouting(md)
		if err != nil {
			checkError(t, md, err)
			return
		}
		checkRouting(t, r)
	})
}

func checkError(t *testing.T, md map[string]string, err error) {
	t.Helper()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %v is not a joined error", err)
	}
	for _, e := range joined.Unwrap() {
		var me *MetadataError
		if !errors.As(e, &me) {
			t.Fatalf("error %v is not a *MetadataError", e)
		}
		if !slices.Contains([]string{KeyHosts, KeyPathPrefixes, KeyHeaders, KeyService, KeyPort, KeyHoldTimeout, KeyMaxHeld, KeyWaitingPage}, me.Key) {
			t.Fatalf("error names unknown key %q", me.Key)
		}
		if me.Value != md[me.Key] {
			t.Fatalf("error for %q carries value %q, metadata has %q", me.Key, me.Value, md[me.Key])
		}
		v := me.Value
		if len(v) > triggermeta.MaxQuoted {
			v = v[:triggermeta.MaxQuoted]
		}
		quoted := strconv.Quote(v)
		if msg := e.Error(); !strings.Contains(msg, strconv.Quote(me.Key)) || !strings.Contains(msg, quoted[:len(quoted)-1]) {
			t.Fatalf("error %q does not name key %q and value %q", msg, me.Key, v)
		}
	}
}

func checkRouting(t *testing.T, r Routing) {
	t.Helper()
	if len(r.Hosts) == 0 || len(r.PathPrefixes) == 0 || r.Service == "" {
		t.Fatalf("accepted incomplete routing %+v", r)
	}
	if r.Policy.HoldTimeout <= 0 || r.Policy.MaxHeld < 1 || r.Policy.WaitingPage < gate.PageOnTimeout || r.Policy.WaitingPage > gate.PageOff {
		t.Fatalf("accepted bad policy %+v", r.Policy)
	}
	if r.Port != "" {
		if n, err := strconv.Atoi(r.Port); err == nil && (n < 1 || n > 65535) {
			t.Fatalf("accepted port %q", r.Port)
		}
	}
	if _, err := route.New([]route.Rule{r.rule("ns/name")}); err != nil {
		t.Fatalf("router rejects accepted routing %+v: %v", r, err)
	}
}
