package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func objects(sos ...*kedav1alpha1.ScaledObject) map[string]*kedav1alpha1.ScaledObject {
	m := map[string]*kedav1alpha1.ScaledObject{}
	for _, so := range sos {
		m[objectKey(so)] = so
	}
	return m
}

func TestPlan(t *testing.T) {
	twoTriggers := scaledObject("ns", "two", 0, routingMD("two.example.com", "two"))
	twoTriggers.Spec.Triggers = append(twoTriggers.Spec.Triggers, kedav1alpha1.ScaleTriggers{Type: TriggerType, Name: "again", Metadata: routingMD("x.y", "z")})
	mixed := scaledObject("ns", "mixed", 0, nil)
	mixed.Spec.Triggers = []kedav1alpha1.ScaleTriggers{
		{Type: "cpu", Metadata: map[string]string{"value": "50"}},
		{Type: TriggerType, Metadata: map[string]string{"scalerAddress": "other:1"}}, // another push scaler
		{Type: "external", Metadata: routingMD("ext.example.com", "ext")},            // not a push trigger
		{Type: TriggerType, Name: "wake", Metadata: routingMD("mixed.example.com", "mixed")},
	}
	deleting := scaledObject("ns", "deleting", 0, routingMD("del.example.com", "del"))
	deleting.DeletionTimestamp = ptr(metav1.NewTime(base))

	tests := []struct {
		name     string
		objects  []*kedav1alpha1.ScaledObject
		winners  []string
		problems map[string]string // key → reason and a fragment of the message
	}{
		{name: "none"},
		{name: "no wakegate trigger", objects: []*kedav1alpha1.ScaledObject{scaledObject("ns", "plain", 0, nil)}},
		{name: "valid", objects: []*kedav1alpha1.ScaledObject{scaledObject("ns", "a", 0, routingMD("a.example.com", "a"))}, winners: []string{"ns/a"}},
		{name: "trigger found among others", objects: []*kedav1alpha1.ScaledObject{mixed}, winners: []string{"ns/mixed"}},
		{name: "deleting is left out", objects: []*kedav1alpha1.ScaledObject{deleting}},
		{name: "invalid",
			objects: []*kedav1alpha1.ScaledObject{
				scaledObject("ns", "bad", 0, routingMD("bad host", "svc")),
				scaledObject("ns", "good", 0, routingMD("good.example.com", "svc")),
			},
			winners:  []string{"ns/good"},
			problems: map[string]string{"ns/bad": ReasonInvalidMetadata + `|metadata key "hosts": "bad host"`}},
		{name: "two wakegate triggers", objects: []*kedav1alpha1.ScaledObject{twoTriggers},
			problems: map[string]string{"ns/two": ReasonInvalidMetadata + "|triggers 0 and 1"}},
		{name: "older wins by creation time",
			objects: []*kedav1alpha1.ScaledObject{
				scaledObject("a", "newer", time.Minute, routingMD("Shared.example.com", "svc")),
				scaledObject("z", "older", 0, routingMD("shared.example.com", "svc")),
			},
			winners:  []string{"z/older"},
			problems: map[string]string{"a/newer": ReasonRouteConflict + "|older ScaledObject z/older"}},
		{name: "same age: namespace/name decides",
			objects: []*kedav1alpha1.ScaledObject{
				scaledObject("b", "x", 0, routingMD("s.example.com", "svc", KeyPathPrefixes, "/api,/ui")),
				scaledObject("a", "y", 0, routingMD("s.example.com", "svc", KeyPathPrefixes, "/ui")),
			},
			winners:  []string{"a/y"},
			problems: map[string]string{"b/x": ReasonRouteConflict + `|path prefix "/ui"`}},
		{name: "different headers do not conflict",
			objects: []*kedav1alpha1.ScaledObject{
				scaledObject("ns", "blue", 0, routingMD("s.example.com", "blue", KeyHeaders, "X-Tenant=blue")),
				scaledObject("ns", "green", time.Second, routingMD("s.example.com", "green", KeyHeaders, "x-tenant=green")),
				scaledObject("ns", "all", 2*time.Second, routingMD("s.example.com", "all")),
			},
			winners: []string{"ns/blue", "ns/green", "ns/all"}},
		{name: "same headers in other case conflict",
			objects: []*kedav1alpha1.ScaledObject{
				scaledObject("ns", "one", 0, routingMD("s.example.com", "one", KeyHeaders, "X-Tenant=blue")),
				scaledObject("ns", "two", time.Second, routingMD("s.example.com", "two", KeyHeaders, "x-tenant=blue")),
			},
			winners:  []string{"ns/one"},
			problems: map[string]string{"ns/two": ReasonRouteConflict + `|with headers "x-tenant=blue"`}},
		{name: "a loser claims nothing",
			objects: []*kedav1alpha1.ScaledObject{
				scaledObject("ns", "first", 0, routingMD("a.example.com", "s")),
				scaledObject("ns", "second", time.Second, routingMD("a.example.com,b.example.com", "s")),
				scaledObject("ns", "third", 2*time.Second, routingMD("b.example.com", "s")),
			},
			winners:  []string{"ns/first", "ns/third"},
			problems: map[string]string{"ns/second": ReasonRouteConflict + "|ns/first"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			winners, problems := plan(objects(tt.objects...))
			var got []string
			for _, w := range winners {
				got = append(got, w.key)
			}
			if diff := cmp.Diff(tt.winners, got); diff != "" {
				t.Errorf("winners (-want +got):\n%s", diff)
			}
			if len(problems) != len(tt.problems) {
				t.Errorf("problems = %v, want %d", problems, len(tt.problems))
			}
			for key, want := range tt.problems {
				reason, fragment, _ := strings.Cut(want, "|")
				pr, ok := problems[key]
				if !ok || pr.reason != reason || !strings.Contains(pr.msg, fragment) {
					t.Errorf("problem for %s = %+v, want reason %s mentioning %q", key, pr, reason, fragment)
				}
			}
		})
	}
}
