package route

import (
	"fmt"
	"testing"
)

// benchTable has 1,000 targets, each with an exact host, a wildcard host and two prefixes.
func benchTable(b *testing.B) *Table {
	b.Helper()
	rules := make([]Rule, 0, 1000)
	for i := range 1000 {
		rules = append(rules, Rule{
			Target:       fmt.Sprintf("svc-%03d", i),
			Hosts:        []string{fmt.Sprintf("svc-%03d.example.com", i), fmt.Sprintf("*.svc-%03d.example.net", i)},
			PathPrefixes: []string{"/", "/api"},
		})
	}
	t, err := New(rules)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

func BenchmarkMatch(b *testing.B) {
	table := benchTable(b)
	cases := []struct {
		name string
		req  Request
		want string
	}{
		{"exact", Request{Authority: "svc-500.example.com", Path: "/api/items?id=1"}, "svc-500"},
		{"exact-port", Request{Authority: "svc-500.example.com:8080", Path: "/"}, "svc-500"},
		{"exact-upper", Request{Authority: "SVC-500.example.com", Path: "/"}, "svc-500"},
		{"wildcard", Request{Authority: "tenant.svc-500.example.net", Path: "/api"}, "svc-500"},
		{"miss", Request{Authority: "nothing.example.org", Path: "/"}, ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if got, _ := table.Match(c.req); got != c.want {
				b.Fatalf("Match = %q, want %q", got, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				table.Match(c.req)
			}
		})
	}
}

func BenchmarkRouterMatchParallel(b *testing.B) {
	var r Router
	r.Store(benchTable(b))
	req := Request{Authority: "svc-500.example.com", Path: "/api/items"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Match(req)
		}
	})
}

// TestMatchDoesNotAllocate pins the documented promise: lower-case hosts cost no allocation.
func TestMatchDoesNotAllocate(t *testing.T) {
	table, err := New(matchRules)
	if err != nil {
		t.Fatal(err)
	}
	h := hdrs{"x-canary": "on"}
	for _, req := range []Request{
		{Authority: "app.example.com:8080", Path: "/api/x?y", Headers: h},
		{Authority: "a.b.example.com", Path: "/"},
		{Authority: "[::1]:8080", Path: "/"},
		{Authority: "nothing.example.org", Path: "/"},
	} {
		if n := testing.AllocsPerRun(100, func() { table.Match(req) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times per call", req.Authority, n)
		}
	}
}
