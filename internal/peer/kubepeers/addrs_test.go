package kubepeers

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestPeerAddrs(t *testing.T) {
	t.Parallel()
	peerPorts := []discoveryv1.EndpointPort{port("http", 80), port("grpc-peer", 9191)}
	opts := addrOptions{portName: "grpc-peer", port: 9091, self: "wakegate-a"}
	for _, tt := range []struct {
		name    string
		slice   *discoveryv1.EndpointSlice
		opts    addrOptions
		want    []string
		wantErr string
	}{
		{name: "ready endpoints on the named port", slice: slice("s", "p", peerPorts,
			ready("10.0.0.2", "wakegate-b"), ready("10.0.0.3", "wakegate-c")),
			want: []string{"10.0.0.2:9191", "10.0.0.3:9191"}},
		{name: "this replica is left out", slice: slice("s", "p", peerPorts,
			ready("10.0.0.1", "wakegate-a"), ready("10.0.0.2", "wakegate-b")),
			want: []string{"10.0.0.2:9191"}},
		{name: "this replica's address without targetRef stays (the mesh skips it)", slice: slice("s", "p", peerPorts,
			ready("10.0.0.1", "")), want: []string{"10.0.0.1:9191"}},
		{name: "no self given: every endpoint", opts: addrOptions{portName: "grpc-peer"}, slice: slice("s", "p", peerPorts,
			ready("10.0.0.1", "wakegate-a")), want: []string{"10.0.0.1:9191"}},
		{name: "unset ready counts as ready", slice: slice("s", "p", peerPorts,
			endpoint{addr: "10.0.0.2", pod: "wakegate-b"}), want: []string{"10.0.0.2:9191"}},
		{name: "not ready is left out", slice: slice("s", "p", peerPorts,
			endpoint{addr: "10.0.0.2", pod: "wakegate-b", ready: ptr(false)}, ready("10.0.0.3", "wakegate-c")),
			want: []string{"10.0.0.3:9191"}},
		{name: "terminating stays until its goodbye", slice: slice("s", "p", peerPorts,
			endpoint{addr: "10.0.0.2", pod: "wakegate-b", ready: ptr(false), terminating: ptr(true)}),
			want: []string{"10.0.0.2:9191"}},
		{name: "endpoint without address", slice: slice("s", "p", peerPorts, endpoint{pod: "wakegate-b", ready: ptr(true)})},
		{name: "fallback port", slice: slice("s", "p", []discoveryv1.EndpointPort{port("http", 80)},
			ready("10.0.0.2", "wakegate-b")), want: []string{"10.0.0.2:9091"}},
		{name: "IPv6", slice: slice("s", "p", peerPorts, ready("fd00::2", "wakegate-b")), want: []string{"[fd00::2]:9191"}},
		{name: "no port at all", opts: addrOptions{portName: "grpc-peer"},
			slice:   slice("s", "p", []discoveryv1.EndpointPort{port("http", 80)}, ready("10.0.0.2", "wakegate-b")),
			wantErr: `no port named "grpc-peer" (ports: "http")`},
		{name: "no port and no endpoints is no error", opts: addrOptions{portName: "grpc-peer"},
			slice: slice("s", "p", nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if o.portName == "" {
				o = opts
			}
			got, err := peerAddrs(tt.slice, o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || got != nil {
					t.Fatalf("peerAddrs = %q, %v; want no addresses and an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("peerAddrs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDialMap(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{in: "", want: map[string]string{}},
		{in: "10.244.0.11:9091=127.0.0.1:2001, 10.244.0.12:9091=127.0.0.1:2002,",
			want: map[string]string{"10.244.0.11:9091": "127.0.0.1:2001", "10.244.0.12:9091": "127.0.0.1:2002"}},
		{in: "[fd00::1]:9091=[::1]:2001", want: map[string]string{"[fd00::1]:9091": "[::1]:2001"}},
		{in: "10.244.0.11:9091", wantErr: `item 1 "10.244.0.11:9091": want from=to`},
		{in: "a:1=b:2,10.244.0.11=127.0.0.1:1", wantErr: `item 2 "10.244.0.11=127.0.0.1:1": "10.244.0.11": want host:port`},
		{in: "a:1=:2", wantErr: `":2": want host:port`},
		{in: "a:1=b:2,a:1=c:3", wantErr: "a:1 is mapped twice"},
	} {
		got, err := ParseDialMap(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDialMap(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDialMap(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseDialMap(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
