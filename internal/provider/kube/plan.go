package kube

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"

	"github.com/wakegate/wakegate/internal/route"
)

// Event reasons recorded on ScaledObjects that are left out of the target set.
const (
	ReasonInvalidMetadata = "WakegateInvalidMetadata"
	ReasonRouteConflict   = "WakegateRouteConflict"
)

// candidate is a ScaledObject with valid routing.
type candidate struct {
	key     string // "namespace/name": the target name
	so      *kedav1alpha1.ScaledObject
	routing Routing
}

// problem is why a ScaledObject is left out.
type problem struct {
	so     *kedav1alpha1.ScaledObject
	reason string
	msg    string
}

// plan decides the target set from every known ScaledObject: the ones with a valid
// wakegate trigger, minus those whose routes another, older ScaledObject claims
// (creationTimestamp, then namespace/name, decides). problems says, per ScaledObject key,
// why one was left out. plan is pure; winners come in age order.
func plan(objects map[string]*kedav1alpha1.ScaledObject) (winners []candidate, problems map[string]problem) {
	problems = map[string]problem{}
	var cands []candidate
	for key, so := range objects {
		if so.DeletionTimestamp != nil {
			continue
		}
		r, isTarget, err := routingOf(so)
		switch {
		case err != nil:
			problems[key] = problem{so: so, reason: ReasonInvalidMetadata, msg: err.Error()}
		case isTarget:
			cands = append(cands, candidate{key: key, so: so, routing: r})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := a.so.CreationTimestamp.Compare(b.so.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	claims := map[string]string{} // route key → key of the ScaledObject that claimed it
	for _, c := range cands {
		if msg := claim(claims, c); msg != "" {
			problems[c.key] = problem{so: c.so, reason: ReasonRouteConflict, msg: msg}
			continue
		}
		winners = append(winners, c)
	}
	return winners, problems
}

// routingOf finds so's wakegate trigger (type external-push with routing keys) and parses
// it. isTarget is false when so has none; more than one is an error.
func routingOf(so *kedav1alpha1.ScaledObject) (r Routing, isTarget bool, err error) {
	idx := -1
	for i, tr := range so.Spec.Triggers {
		if tr.Type != TriggerType || !IsRouting(tr.Metadata) {
			continue
		}
		if idx >= 0 {
			return Routing{}, false, fmt.Errorf("triggers %d and %d are both %s triggers with routing keys; wakegate needs exactly one", idx, i, TriggerType)
		}
		idx = i
	}
	if idx < 0 {
		return Routing{}, false, nil
	}
	name := triggerName(so.Spec.Triggers[idx], idx)
	if r, err = ParseRouting(so.Spec.Triggers[idx].Metadata); err != nil {
		return Routing{}, false, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := route.New([]route.Rule{r.rule(so.Namespace + "/" + so.Name)}); err != nil {
		return Routing{}, false, fmt.Errorf("%s: %w", name, err)
	}
	return r, true, nil
}

func triggerName(tr kedav1alpha1.ScaleTriggers, i int) string {
	if tr.Name != "" {
		return fmt.Sprintf("trigger %d (%q)", i, tr.Name)
	}
	return fmt.Sprintf("trigger %d", i)
}

// claim records c's routes in claims, or, if an earlier candidate already claims one of
// them, claims nothing and returns a message naming that candidate.
func claim(claims map[string]string, c candidate) string {
	keys := routeKeys(c.routing)
	for _, k := range keys {
		if other, taken := claims[k.key]; taken {
			return fmt.Sprintf("host %q path prefix %q%s is already routed to the older ScaledObject %s; this ScaledObject is ignored until the conflict is resolved",
				k.host, k.prefix, k.headersNote, other)
		}
	}
	for _, k := range keys {
		claims[k.key] = c.key
	}
	return ""
}

type routeKey struct {
	key, host, prefix, headersNote string
}

// routeKeys lists r's (host, path prefix, headers) combinations, in the form the router
// compares them: host lower case, header names lower case.
func routeKeys(r Routing) []routeKey {
	names := make([]string, 0, len(r.Headers))
	lower := make(map[string]string, len(r.Headers))
	for k, v := range r.Headers {
		names = append(names, strings.ToLower(k))
		lower[strings.ToLower(k)] = v
	}
	slices.Sort(names)
	var hk, note strings.Builder
	for i, n := range names {
		hk.WriteString(strconv.Quote(n) + "=" + strconv.Quote(lower[n]) + ";")
		if i > 0 {
			note.WriteString(",")
		}
		note.WriteString(n + "=" + lower[n])
	}
	headersNote := ""
	if note.Len() > 0 {
		headersNote = fmt.Sprintf(" with headers %q", note.String())
	}
	var out []routeKey
	for _, h := range r.Hosts {
		h = strings.ToLower(h)
		for _, p := range r.PathPrefixes {
			out = append(out, routeKey{key: h + "\x00" + p + "\x00" + hk.String(), host: h, prefix: p, headersNote: headersNote})
		}
	}
	return out
}
