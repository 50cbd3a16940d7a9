package kubepeers

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// addrOptions say how peerAddrs reads a slice.
type addrOptions struct {
	portName string // the slice port to use
	port     int32  // when the slice has no such port; 0: none
	self     string // this replica's pod name, left out
}

// peerAddrs returns the host:port of every endpoint of s that is a peer: ready (or
// terminating), not this replica, with an address. The error says why a slice with
// endpoints yields no port; there are no addresses then.
func peerAddrs(s *discoveryv1.EndpointSlice, o addrOptions) ([]string, error) {
	port, err := peerPort(s, o)
	if err != nil {
		if len(s.Endpoints) == 0 {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, ep := range s.Endpoints {
		if len(ep.Addresses) == 0 || !isPeer(ep) || isSelf(ep, o.self) {
			continue
		}
		out = append(out, net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port))))
	}
	return out, nil
}

// peerPort is the number of s's port named o.portName, else o.port.
func peerPort(s *discoveryv1.EndpointSlice, o addrOptions) (int32, error) {
	names := make([]string, 0, len(s.Ports))
	for _, p := range s.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if name == o.portName && p.Port != nil && *p.Port > 0 {
			return *p.Port, nil
		}
		names = append(names, strconv.Quote(name))
	}
	if o.port > 0 {
		return o.port, nil
	}
	return 0, fmt.Errorf("no port named %q (ports: %s) and no fallback port (--peer-addr has none)",
		o.portName, strings.Join(names, ", "))
}

// isPeer: ready (an unset condition counts as ready, as the API says consumers should
// take it), or terminating — a replica shutting down answers its peers until its goodbye.
func isPeer(ep discoveryv1.Endpoint) bool {
	c := ep.Conditions
	return c.Ready == nil || *c.Ready || (c.Terminating != nil && *c.Terminating)
}

// isSelf: the endpoint's targetRef is this replica's pod.
func isSelf(ep discoveryv1.Endpoint, self string) bool {
	r := ep.TargetRef
	return self != "" && r != nil && (r.Kind == "" || r.Kind == "Pod") && r.Name == self
}
