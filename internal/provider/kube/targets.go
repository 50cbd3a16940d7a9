package kube

import (
	"reflect"
	"slices"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/wakegate/wakegate/internal/gate"
)

func objectKey(so *kedav1alpha1.ScaledObject) string { return so.Namespace + "/" + so.Name }

// putObject records an added or updated ScaledObject and rebuilds the target set.
func (p *Provider) putObject(so *kedav1alpha1.ScaledObject) {
	p.mu.Lock()
	p.objects[objectKey(so)] = so
	p.mu.Unlock()
	p.rebuild()
}

// deleteObject forgets a ScaledObject and rebuilds the target set.
func (p *Provider) deleteObject(so *kedav1alpha1.ScaledObject) {
	p.mu.Lock()
	delete(p.objects, objectKey(so))
	p.mu.Unlock()
	p.rebuild()
}

// sameForTargets reports whether an update left everything the target set depends on
// unchanged (KEDA updates the status of its ScaledObjects often).
func sameForTargets(a, b *kedav1alpha1.ScaledObject) bool {
	return equality.Semantic.DeepEqual(a.Spec, b.Spec) && a.NeedToBePausedByAnnotation() == b.NeedToBePausedByAnnotation() &&
		(a.DeletionTimestamp == nil) == (b.DeletionTimestamp == nil)
}

// markListed is called once every ScaledObject has been listed: from now on each event
// rebuilds the target set (before, a partial list could report conflicts wrongly).
func (p *Provider) markListed() {
	p.mu.Lock()
	p.listed = true
	p.mu.Unlock()
	p.rebuild()
}

// rebuild recomputes the target set from the known ScaledObjects, publishes it, records
// an Event for each ScaledObject newly left out (or left out for a new reason) and calls
// OnTargets if the set changed. Rebuilds run one at a time.
func (p *Provider) rebuild() {
	p.cfgMu.Lock()
	defer p.cfgMu.Unlock()
	p.mu.Lock()
	if !p.listed {
		p.mu.Unlock()
		return
	}
	winners, problems := plan(p.objects)
	set, changed := p.applyLocked(winners)
	fresh := p.freshProblemsLocked(problems)
	p.mu.Unlock()
	for _, pr := range fresh {
		p.report(pr)
	}
	if changed && p.opts.OnTargets != nil {
		p.opts.OnTargets(set)
	}
}

// applyLocked makes winners the configured targets. A target that stays keeps its
// readiness state (and waiters); one whose Service or port changed is re-evaluated; one
// that goes away reports not ready and wakes its waiters at the next set change.
func (p *Provider) applyLocked(winners []candidate) (set []gate.Target, changed bool) {
	old := *p.targets.Load()
	next := make(map[string]*target, len(winners))
	bySvc := map[string][]*target{}
	var stale []*target
	for _, c := range winners {
		t := old[c.key]
		fresh := t == nil || t.routing.Service != c.routing.Service || t.routing.Port != c.routing.Port
		if t == nil {
			t = newTarget(c.key)
		}
		t.ns, t.routing, t.so = c.so.Namespace, c.routing, c.so
		if fresh {
			stale = append(stale, t)
		}
		next[c.key] = t
		bySvc[t.serviceKey()] = append(bySvc[t.serviceKey()], t)
		set = append(set, gate.Target{Rule: c.routing.rule(c.key), Policy: c.routing.Policy})
	}
	slices.SortFunc(set, func(a, b gate.Target) int { return strings.Compare(a.Rule.Target, b.Rule.Target) })
	p.bySvc = bySvc
	for _, t := range stale {
		p.refreshLocked(t)
	}
	changed = !reflect.DeepEqual(set, p.lastSet)
	if !changed {
		p.targets.Store(&next)
		return set, false
	}
	p.lastSet = set
	nextCh := make(chan struct{})
	for name, t := range old {
		if next[name] == nil {
			t.stopProbe()
			t.replace(&snapshot{changed: nextCh})
		}
	}
	p.targets.Store(&next)
	close(*p.setCh.Swap(&nextCh))
	return set, true
}

// freshProblemsLocked remembers problems and returns those not reported before with the
// same message.
func (p *Provider) freshProblemsLocked(problems map[string]problem) []problem {
	var fresh []problem
	msgs := make(map[string]string, len(problems))
	for key, pr := range problems {
		msgs[key] = pr.msg
		if p.problems[key] != pr.msg {
			fresh = append(fresh, pr)
		}
	}
	p.problems = msgs
	slices.SortFunc(fresh, func(a, b problem) int { return strings.Compare(objectKey(a.so), objectKey(b.so)) })
	return fresh
}

// report logs pr and records it as a Warning Event on its ScaledObject.
func (p *Provider) report(pr problem) {
	p.log.Warn("ScaledObject left out of the targets", "scaledObject", objectKey(pr.so), "reason", pr.reason, "err", pr.msg)
	if p.rec == nil {
		return
	}
	ref := &corev1.ObjectReference{APIVersion: kedav1alpha1.SchemeGroupVersion.String(), Kind: "ScaledObject",
		Namespace: pr.so.Namespace, Name: pr.so.Name, UID: pr.so.UID, ResourceVersion: pr.so.ResourceVersion}
	p.rec.Eventf(ref, corev1.EventTypeWarning, pr.reason, "%s", pr.msg)
}
