package integration

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wakegate/wakegate/internal/gate"
	kubeprovider "github.com/wakegate/wakegate/internal/provider/kube"
	"github.com/wakegate/wakegate/scaler"
)

// scalerAddress is where deploy/base serves KEDA's external scaler.
const scalerAddress = "wakegate.wakegate.svc.cluster.local:9090"

// wakegateTrigger is one external-push trigger with wakegate's routing keys.
type wakegateTrigger struct {
	where   string // file and ScaledObject, for messages
	dir     string
	md      map[string]string
	routing kubeprovider.Routing
}

// shippedTriggers returns every wakegate trigger in the shipped ScaledObjects whose routing keys
// parse. Metadata that wakegate's own parsers (the provider's routing keys, the scaler's keys)
// reject fails t.
func shippedTriggers(t *testing.T, files []shippedFile) []wakegateTrigger {
	t.Helper()
	var out []wakegateTrigger
	for _, f := range files {
		for _, d := range f.docs {
			if f.kind != kindManifest || str(d, "kind") != "ScaledObject" {
				continue
			}
			where := f.rel + " ScaledObject " + str(mapAt(d, "metadata"), "name")
			for _, tr := range list(mapAt(d, "spec"), "triggers") {
				trig, _ := tr.(map[string]any)
				md, err := stringMap(mapAt(trig, "metadata"))
				if err != nil {
					t.Errorf("%s: trigger metadata: %v", where, err)
					continue
				}
				if str(trig, "type") != kubeprovider.TriggerType || !kubeprovider.IsRouting(md) {
					continue
				}
				if _, err := scaler.ParseTrigger(md, 0); err != nil {
					t.Errorf("%s: wakegate's scaler rejects the metadata: %v", where, err)
				}
				routing, err := kubeprovider.ParseRouting(md)
				if err != nil {
					t.Errorf("%s: wakegate rejects the routing keys: %v", where, err)
					continue
				}
				out = append(out, wakegateTrigger{where: where, dir: path.Dir(f.rel), md: md, routing: routing})
			}
		}
	}
	return out
}

// stringMap converts KEDA trigger metadata, which must be all strings.
func stringMap(m map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("key %q: %v is not a string (quote it)", k, v)
		}
		out[k] = s
	}
	return out, nil
}

// TestManifestsScaledObjects: the shipped ScaledObjects are accepted by wakegate's parsers,
// point KEDA at deploy/base's scaler Service, and name only hosts that an HTTPRoute beside them
// routes, to a Service that route sends to.
func TestManifestsScaledObjects(t *testing.T) {
	t.Parallel()
	_, files := inventory(t)
	triggers := shippedTriggers(t, files)
	if len(triggers) == 0 {
		t.Fatal("manifests: no ScaledObject with a wakegate trigger")
	}
	for _, w := range triggers {
		if got := w.md["scalerAddress"]; got != scalerAddress {
			t.Errorf("%s: scalerAddress %q, want %q (deploy/base's Service)", w.where, got, scalerAddress)
		}
		hosts, backends := routesIn(files, w.dir)
		for _, h := range w.routing.Hosts {
			if !slices.Contains(hosts, h) {
				t.Errorf("%s: host %q is in no HTTPRoute in %s (routes: %v)", w.where, h, w.dir, hosts)
			}
		}
		if !slices.Contains(backends, w.routing.Service) {
			t.Errorf("%s: service %q is no HTTPRoute backend in %s (backends: %v)", w.where, w.routing.Service, w.dir, backends)
		}
	}
}

// routesIn returns the hostnames and backend Service names of the HTTPRoutes in dir.
func routesIn(files []shippedFile, dir string) (hosts, backends []string) {
	for _, f := range files {
		for _, d := range f.docs {
			if path.Dir(f.rel) != dir || str(d, "kind") != "HTTPRoute" {
				continue
			}
			for _, h := range list(mapAt(d, "spec"), "hostnames") {
				hosts = append(hosts, fmt.Sprint(h))
			}
			for _, r := range list(mapAt(d, "spec"), "rules") {
				rule, _ := r.(map[string]any)
				for _, b := range list(rule, "backendRefs") {
					ref, _ := b.(map[string]any)
					backends = append(backends, str(ref, "name"))
				}
			}
		}
	}
	return hosts, backends
}

// gatewayTimeout is one gateway timer that must outlive every hold behind it.
type gatewayTimeout struct {
	where, value string // value "" means unset (the gateway's short default applies)
}

// TestManifestsTimeoutsCoverHold: every gateway hook's timer that bounds a held request
// (ext_proc messageTimeout / message_timeout, ext_authz timeout) is set explicitly and exceeds
// the longest holdTimeout of the ScaledObjects in its directory (wakegate's default 60s where
// there are none), so wakegate's own 503 or waiting page answers a hold that runs out. In an
// Envoy bootstrap, the HCM stream_idle_timeout must exceed it too.
func TestManifestsTimeoutsCoverHold(t *testing.T) {
	t.Parallel()
	_, files := inventory(t)
	hold := map[string]time.Duration{}
	for _, w := range shippedTriggers(t, files) {
		hold[w.dir] = max(hold[w.dir], w.routing.Policy.HoldTimeout)
	}
	checked := 0
	for _, f := range files {
		h := hold[path.Dir(f.rel)]
		if h == 0 {
			h = gate.DefaultHoldTimeout
		}
		timeouts, problems := gatewayTimeouts(f)
		for _, err := range problems {
			t.Error(err)
		}
		for _, gt := range timeouts {
			checked++
			d, err := time.ParseDuration(gt.value)
			switch {
			case gt.value == "":
				t.Errorf("%s: unset; the gateway's default is far below any hold: set it above %v", gt.where, h)
			case err != nil:
				t.Errorf("%s: %q: %v", gt.where, gt.value, err)
			case d <= h:
				t.Errorf("%s: %v does not exceed the longest holdTimeout here, %v", gt.where, d, h)
			}
		}
	}
	if checked == 0 {
		t.Fatal("manifests: found no gateway timeout to check")
	}
}

// gatewayTimeouts returns the hold-bounding timers configured in f, and problems found on the
// way.
func gatewayTimeouts(f shippedFile) (out []gatewayTimeout, problems []error) {
	for _, d := range f.docs {
		where := f.rel + " " + str(d, "kind") + " " + str(mapAt(d, "metadata"), "name")
		switch {
		case f.kind == kindBootstrap:
			ts, ps := bootstrapTimeouts(f.rel, d)
			out, problems = append(out, ts...), append(problems, ps...)
		case str(d, "kind") == "EnvoyExtensionPolicy":
			for i, e := range list(mapAt(d, "spec"), "extProc") {
				ep, _ := e.(map[string]any)
				out = append(out, gatewayTimeout{fmt.Sprintf("%s extProc[%d].messageTimeout", where, i), str(ep, "messageTimeout")})
			}
		case str(d, "kind") == "SecurityPolicy" && mapAt(d, "spec", "extAuth") != nil:
			out = append(out, gatewayTimeout{where + " extAuth.timeout", str(mapAt(d, "spec", "extAuth"), "timeout")})
		case str(d, "kind") == "EnvoyFilter":
			walkMaps(d, func(m map[string]any) {
				if strings.HasSuffix(str(m, "@type"), ".ExternalProcessor") {
					out = append(out, gatewayTimeout{where + " ext_proc message_timeout", str(m, "message_timeout")})
				}
			})
		case mapAt(d, "meshConfig") != nil:
			for i, p := range list(mapAt(d, "meshConfig"), "extensionProviders") {
				provider, _ := p.(map[string]any)
				if authz := mapAt(provider, "envoyExtAuthzGrpc"); authz != nil {
					out = append(out, gatewayTimeout{fmt.Sprintf("%s extensionProviders[%d].envoyExtAuthzGrpc.timeout", f.rel, i), str(authz, "timeout")})
				}
			}
		}
	}
	return out, problems
}

// bootstrapTimeouts returns the message_timeout of every ext_proc filter in an Envoy
// bootstrap, and a problem for each HTTP connection manager whose stream_idle_timeout (which
// runs during a hold; 300s by default) does not exceed it.
func bootstrapTimeouts(rel string, b map[string]any) (out []gatewayTimeout, problems []error) {
	walkMaps(b, func(hcm map[string]any) {
		if !strings.HasSuffix(str(hcm, "@type"), ".HttpConnectionManager") {
			return
		}
		where := fmt.Sprintf("%s HCM %s", rel, str(hcm, "stat_prefix"))
		idle, err := time.ParseDuration(orDefault(str(hcm, "stream_idle_timeout"), "300s"))
		if err != nil {
			problems = append(problems, fmt.Errorf("%s stream_idle_timeout: %w", where, err))
		}
		for _, hf := range list(hcm, "http_filters") {
			filter, _ := hf.(map[string]any)
			cfg := mapAt(filter, "typed_config")
			if !strings.HasSuffix(str(cfg, "@type"), ".ExternalProcessor") {
				continue
			}
			mt := str(cfg, "message_timeout")
			out = append(out, gatewayTimeout{where + " ext_proc message_timeout", mt})
			if m, err := time.ParseDuration(mt); err == nil && idle <= m {
				problems = append(problems, fmt.Errorf("%s stream_idle_timeout %v does not exceed message_timeout %v", where, idle, m))
			}
		}
	})
	return out, problems
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// walkMaps calls fn for every map nested anywhere in v, v included.
func walkMaps(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, e := range v {
			walkMaps(e, fn)
		}
	case []any:
		for _, e := range v {
			walkMaps(e, fn)
		}
	}
}
