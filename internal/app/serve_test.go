package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"
)

// TestServePeerFlags: bad peer discovery flags are usage errors naming the flag, found
// before any connection to Kubernetes is made.
func TestServePeerFlags(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--peer-dial-map", "10.0.0.1:9091=127.0.0.1:1"}, []string{"--peer-dial-map needs --peer-service"}},
		{[]string{"--peer-service", "wakegate-peers"}, []string{"--peer-namespace (or $POD_NAMESPACE) is required with --peer-service"}},
		{[]string{"--peer-service", "Wakegate_Peers", "--peer-namespace", "wakegate"}, []string{`--peer-service "Wakegate_Peers"`}},
		{[]string{"--peer-service", "p", "--peer-namespace", "a.b"}, []string{`--peer-namespace "a.b"`}},
		{[]string{"--peer-service", "p", "--peer-namespace", "w", "--peer-dial-map", "10.0.0.1=127.0.0.1:1"},
			[]string{`--peer-dial-map: item 1 "10.0.0.1=127.0.0.1:1"`}},
		{[]string{"--peer-service", "p", "--peer-dial-map", "x", "--max-held", "0"},
			[]string{"--peer-namespace (or", "--peer-dial-map: item 1", "--max-held 0"}},
	} {
		var stderr bytes.Buffer
		err := Main(t.Context(), Env{Args: append([]string{"serve"}, tt.args...), Stdout: &stderr, Stderr: &stderr})
		var u *UsageError
		if !errors.As(err, &u) {
			t.Errorf("serve %q = %v, want a usage error", tt.args, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("serve %q: error %q does not contain %q", tt.args, err, w)
			}
		}
	}
}

// TestServePeerNamespaceDefault: --peer-namespace defaults to $POD_NAMESPACE (the
// downward API).
func TestServePeerNamespaceDefault(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "wakegate-ns")
	var sf serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	sf.register(fs)
	if err := parseFlags(fs, []string{"--peer-service", "wakegate-peers"}); err != nil {
		t.Fatal(err)
	}
	if sf.peerNamespace != "wakegate-ns" || len(sf.validatePeers()) > 0 {
		t.Errorf("--peer-namespace = %q (errors %v), want wakegate-ns from $POD_NAMESPACE", sf.peerNamespace, sf.validatePeers())
	}
}

func TestListenPort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int32{":9091": 9091, "127.0.0.1:0": 0, "[::]:7000": 7000, "host:http": 0, "nonsense": 0, ":70000": 0} {
		if got := listenPort(in); got != want {
			t.Errorf("listenPort(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestServePeerDiscovery: the discovery serve builds reads the flags' Service and
// namespace, falls back to --peer-addr's port, leaves out this replica (--replica-id),
// keeps --peers and applies --peer-dial-map.
func TestServePeerDiscovery(t *testing.T) {
	t.Parallel()
	sf := serveFlags{peerService: "wakegate-peers", peerNamespace: "wakegate", peerDialMap: "10.0.0.3:7000=127.0.0.1:3"}
	o := ServerOptions{PeerAddr: ":7000", ReplicaID: "wakegate-a", Peers: "static.example:1"}
	ready := true
	kube := k8sfake.NewClientset(&discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "wakegate", Name: "x", Labels: map[string]string{discoveryv1.LabelServiceName: "wakegate-peers"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "wakegate-a"}},
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "wakegate-b"}},
			{Addresses: []string{"10.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "wakegate-c"}},
		},
	})
	lists := make(chan []string, 10)
	d, err := sf.peerDiscovery(kube, o, slog.New(slog.DiscardHandler), setPeersFunc(func(a []string) error { lists <- a; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case got := <-lists:
		if diff := cmp.Diff([]string{"static.example:1", "10.0.0.2:7000", "127.0.0.1:3"}, got); diff != "" {
			t.Errorf("peer list (-want +got):\n%s", diff)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no peer list pushed")
	}
	if d, err := (&serveFlags{}).peerDiscovery(kube, o, nil, nil); d != nil || err != nil {
		t.Errorf("without --peer-service: %v, %v; want nil, nil", d, err)
	}
}
