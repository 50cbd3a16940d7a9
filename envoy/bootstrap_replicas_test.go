package envoy

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// renderedCluster is the part of a rendered cluster the replica tests read.
type renderedCluster struct {
	Name           string `json:"name"`
	LbPolicy       string `json:"lb_policy"`
	LoadAssignment struct {
		Endpoints []struct {
			LbEndpoints []struct {
				Endpoint struct {
					Address struct {
						Socket struct {
							Address string `json:"address"`
							Port    int    `json:"port_value"`
						} `json:"socket_address"`
					} `json:"address"`
				} `json:"endpoint"`
			} `json:"lb_endpoints"`
		} `json:"endpoints"`
	} `json:"load_assignment"`
	HealthChecks []map[string]any `json:"health_checks"`
	CommonLb     map[string]any   `json:"common_lb_config"`
}

// wakegateCluster renders l and returns its wakegate cluster and endpoints (host:port).
func wakegateCluster(t *testing.T, l Local) (renderedCluster, []string) {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderLocal(&buf, l); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		StaticResources struct {
			Clusters []renderedCluster `json:"clusters"`
		} `json:"static_resources"`
	}
	if err := yaml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("rendered YAML: %v\n%s", err, buf.String())
	}
	for _, c := range doc.StaticResources.Clusters {
		if c.Name != "wakegate" {
			continue
		}
		var eps []string
		for _, e := range c.LoadAssignment.Endpoints {
			for _, le := range e.LbEndpoints {
				a := le.Endpoint.Address.Socket
				eps = append(eps, a.Address+":"+strconv.Itoa(a.Port))
			}
		}
		return c, eps
	}
	t.Fatal("no wakegate cluster")
	return renderedCluster{}, nil
}

// TestRenderLocalReplicas: several wakegate endpoints make a round-robin ext_proc cluster
// with every endpoint listed, in order; a health interval adds gRPC health checks and
// turns the panic threshold off. Without either the cluster is the single endpoint as before.
func TestRenderLocalReplicas(t *testing.T) {
	tests := []struct {
		name      string
		more      []Endpoint
		interval  time.Duration
		endpoints []string
		lb        string
		health    map[string]any // the one health check; nil for none
	}{
		{"one", nil, 0, []string{"127.0.0.1:9001"}, "", nil},
		{"three", []Endpoint{{"127.0.0.1", 9002}, {"wakegate-2.local", 9003}}, 0,
			[]string{"127.0.0.1:9001", "127.0.0.1:9002", "wakegate-2.local:9003"}, "ROUND_ROBIN", nil},
		{"three checked", []Endpoint{{"127.0.0.1", 9002}, {"127.0.0.1", 9003}}, 100 * time.Millisecond,
			[]string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}, "ROUND_ROBIN",
			map[string]any{"grpc_health_check": map[string]any{}, "interval": "0.1s", "no_traffic_interval": "0.1s",
				"timeout": "0.1s", "unhealthy_threshold": 1.0, "healthy_threshold": 1.0}},
		{"one checked", nil, 5 * time.Second, []string{"127.0.0.1:9001"}, "",
			map[string]any{"grpc_health_check": map[string]any{}, "interval": "5s", "no_traffic_interval": "5s",
				"timeout": "1s", "unhealthy_threshold": 1.0, "healthy_threshold": 1.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := DefaultLocal()
			l.MoreWakegates, l.WakegateHealthInterval = tt.more, tt.interval
			wg, got := wakegateCluster(t, l)
			if strings.Join(got, " ") != strings.Join(tt.endpoints, " ") || wg.LbPolicy != tt.lb {
				t.Errorf("endpoints %v, lb_policy %q; want %v, %q", got, wg.LbPolicy, tt.endpoints, tt.lb)
			}
			checkHealth(t, wg.HealthChecks, wg.CommonLb, tt.health)
		})
	}
}

// checkHealth checks the cluster's health checks and panic threshold: none if want is
// nil, else exactly want and a threshold of 0.
func checkHealth(t *testing.T, checks []map[string]any, common map[string]any, want map[string]any) {
	t.Helper()
	if want == nil {
		if len(checks) != 0 || common != nil {
			t.Errorf("health_checks %v, common_lb_config %v; want none", checks, common)
		}
		return
	}
	if len(checks) != 1 || !equalJSON(checks[0], want) {
		t.Errorf("health_checks %v, want [%v]", checks, want)
	}
	if !equalJSON(common, map[string]any{"healthy_panic_threshold": map[string]any{"value": 0.0}}) {
		t.Errorf("common_lb_config %v, want the panic threshold at 0", common)
	}
}

// equalJSON reports whether a and b encode alike.
func equalJSON(a, b map[string]any) bool {
	ja, _ := yaml.Marshal(a)
	jb, _ := yaml.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestLocalValidateReplicas: a bad extra endpoint or a negative health interval is named.
func TestLocalValidateReplicas(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Local)
		want string
	}{
		{"port zero", func(l *Local) { l.MoreWakegates = []Endpoint{{"127.0.0.1", 1}, {"127.0.0.1", 0}} }, "MoreWakegates[1].Port 0"},
		{"bad host", func(l *Local) { l.MoreWakegates = []Endpoint{{"a:b", 9002}} }, `MoreWakegates[0].Host "a:b"`},
		{"negative interval", func(l *Local) { l.WakegateHealthInterval = -time.Second }, "negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := DefaultLocal()
			tt.edit(&l)
			if err := l.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
