package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// errorCase is a configuration that must be refused with errors containing want, each
// also naming the file.
type errorCase struct {
	name string
	edit func(map[string]any) // applied to one base target
	raw  string               // or the whole file
	want []string
}

func checkErrors(t *testing.T, tests []errorCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw
			if tc.edit != nil {
				tg := baseTarget()
				tc.edit(tg)
				data = marshalTargets(t, tg)
			}
			path := writeConfig(t, data)
			c, err := LoadLocal(path)
			if err == nil {
				t.Fatalf("LoadLocal succeeded (%+v), want errors %q", c, tc.want)
			}
			for _, w := range tc.want {
				if msg := err.Error(); !strings.Contains(msg, path+": ") || !strings.Contains(msg, w) {
					t.Errorf("error does not name the file and contain %q:\n%s", w, msg)
				}
			}
		})
	}
}

// set returns an edit that sets the dotted path in a target to v, or deletes it if v is nil.
func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		if v == nil {
			delete(m, keys[len(keys)-1])
			return
		}
		m[keys[len(keys)-1]] = v
	}
}

func TestLoadLocalFileErrors(t *testing.T) {
	checkErrors(t, []errorCase{
		{name: "no targets", raw: "targets: []\n", want: []string{"targets: at least one target is required"}},
		{name: "empty file", raw: "", want: []string{"targets: at least one target is required"}},
		{name: "unknown top-level field", raw: "targetz: []\n", want: []string{`unknown field "targetz"`}},
		{name: "unknown nested field", edit: set("match.hostz", []any{"x"}), want: []string{`unknown field "hostz"`}},
		{name: "wrong type", edit: set("process.command", "./app --flag"), want: []string{"targets.process.command: got a string, want a list"}},
		{name: "fractional maxHeld", edit: set("maxHeld", 1.5), want: []string{"targets.maxHeld: got ", "want an integer"}},
		{name: "not a mapping", raw: "- a\n- b\n", want: []string{"got a list, want a mapping"}},
		{name: "duplicate key", raw: "targets: []\ntargets: []\n", want: []string{`"targets" already set`}},
		{name: "malformed yaml", raw: "targets: [\n", want: []string{"yaml: line"}},
		{name: "duplicate names", raw: twoTargets("web", "localhost", "web", "other.localhost"),
			want: []string{`targets[1].name: duplicate name "web", also used by targets[0]`}},
		{name: "route conflict", raw: twoTargets("a", "localhost", "b", "LOCALHOST"),
			want: []string{`targets[1].match: target "b": host "localhost" path prefix "/" is already claimed by target "a"`}},
		{name: "every problem at once", edit: func(m map[string]any) {
			set("name", "Web")(m)
			set("idleTimeout", "soon")(m)
			set("readiness.interval", "-1s")(m)
		}, want: []string{"targets[0].name", "targets[0].idleTimeout", "targets[0].readiness.interval"}},
	})
}

func TestLoadLocalTargetErrors(t *testing.T) {
	checkErrors(t, []errorCase{
		{name: "name missing", edit: set("name", nil), want: []string{"targets[0].name: is required"}},
		{name: "name upper case", edit: set("name", "Web"), want: []string{`targets[0].name: want at most 63`, `got "Web"`}},
		{name: "name leading dash", edit: set("name", "-web"), want: []string{`targets[0].name: `, `got "-web"`}},
		{name: "name too long", edit: set("name", strings.Repeat("a", 64)), want: []string{`targets[0].name: `}},
		{name: "hosts missing", edit: set("match.hosts", nil), want: []string{"targets[0].match.hosts: at least one host is required"}},
		{name: "bad host", edit: set("match.hosts", []any{"ok.localhost", "a b"}), want: []string{`targets[0].match.hosts[1]: host "a b": invalid character`}},
		{name: "bad wildcard", edit: set("match.hosts", []any{"*web"}), want: []string{`targets[0].match.hosts[0]: host "*web"`}},
		{name: "bad prefix", edit: set("match.pathPrefixes", []any{"/", "api"}), want: []string{`targets[0].match.pathPrefixes[1]: must start with "/", got "api"`}},
		{name: "bad header name", edit: set("match.headers", map[string]any{"a b": "x"}), want: []string{`targets[0].match.headers: invalid header name "a b"`}},
		{name: "colon in header name", edit: set("match.headers", map[string]any{"x:y": "x"}), want: []string{`invalid header name "x:y"`}},
		{name: "header names differ by case", edit: set("match.headers", map[string]any{"X-A": "1", "x-a": "2"}),
			want: []string{`targets[0].match.headers: header names "X-A" and "x-a" are the same`}},
		{name: "command missing", edit: set("process.command", nil), want: []string{"targets[0].process.command: is required"}},
		{name: "command empty program", edit: set("process.command", []any{""}), want: []string{"targets[0].process.command[0]: must not be empty"}},
		{name: "dir missing", edit: set("process.dir", "nope"), want: []string{"targets[0].process.dir: ", `nope" is not a directory`}},
		{name: "bad env", edit: set("process.env", map[string]any{"A=B": "x"}), want: []string{`targets[0].process.env: invalid variable "A=B"`}},
	})
}

func TestLoadLocalReadinessAndTimingErrors(t *testing.T) {
	tcp := func(addr string) func(map[string]any) {
		return func(m map[string]any) { m["readiness"] = map[string]any{"tcp": addr} }
	}
	checkErrors(t, []errorCase{
		{name: "no readiness", edit: set("readiness.http", nil), want: []string{"targets[0].readiness: one of http and tcp is required"}},
		{name: "both readiness", edit: set("readiness.tcp", "127.0.0.1:1"), want: []string{"targets[0].readiness: set only one of http and tcp"}},
		{name: "bad http", edit: set("readiness.http", "localhost:8080/healthz"), want: []string{`targets[0].readiness.http: want an http:// or https:// URL, got "localhost:8080/healthz"`}},
		{name: "bad tcp", edit: tcp("127.0.0.1"), want: []string{`targets[0].readiness.tcp: want host:port, got "127.0.0.1"`}},
		{name: "tcp port out of range", edit: tcp("localhost:70000"), want: []string{`targets[0].readiness.tcp: want host:port, got "localhost:70000"`}},
		{name: "negative interval", edit: set("readiness.interval", "-1s"), want: []string{`targets[0].readiness.interval: must be positive, got "-1s"`}},
		{name: "unparsable interval", edit: set("readiness.interval", "fast"), want: []string{`targets[0].readiness.interval: invalid duration "fast"`}},
		{name: "interval without unit", edit: set("readiness.interval", 100), want: []string{`targets[0].readiness.interval: invalid duration "100"`}},
		{name: "zero idle", edit: set("idleTimeout", "0s"), want: []string{`targets[0].idleTimeout: must be positive, got "0s"`}},
		{name: "bad idle", edit: set("idleTimeout", "5 minutes"), want: []string{`targets[0].idleTimeout: invalid duration "5 minutes"`}},
		{name: "negative hold", edit: set("holdTimeout", "-5s"), want: []string{`targets[0].holdTimeout: must be positive, got "-5s"`}},
		{name: "negative grace", edit: set("stopGracePeriod", "-1s"), want: []string{`targets[0].stopGracePeriod: must not be negative, got "-1s"`}},
		{name: "zero maxHeld", edit: set("maxHeld", 0), want: []string{"targets[0].maxHeld: must be at least 1, got 0"}},
		{name: "bad waitingPage", edit: set("waitingPage", "sometimes"), want: []string{`targets[0].waitingPage: want onTimeout, immediate or off, got "sometimes"`}},
	})
}

func twoTargets(name1, host1, name2, host2 string) string {
	return `targets:
  - name: ` + name1 + `
    match: {hosts: ["` + host1 + `"]}
    process: {command: ["app"]}
    readiness: {tcp: "127.0.0.1:1"}
  - name: ` + name2 + `
    match: {hosts: ["` + host2 + `"]}
    process: {command: ["app"]}
    readiness: {tcp: "127.0.0.1:2"}
`
}

// TestValidateProgrammatic checks Validate on a Local built in code: no file prefix, each
// problem a *FieldError.
func TestValidateProgrammatic(t *testing.T) {
	c := &Local{Targets: []LocalTarget{{Name: "x", Match: Match{Hosts: []string{"localhost"}},
		Process: Process{Command: []string{"app"}}, Readiness: Readiness{TCP: "127.0.0.1:1", Interval: 1},
		IdleTimeout: 1, HoldTimeout: 1, MaxHeld: 1, WaitingPage: 9}}}
	errs := c.Validate()
	if len(errs) != 1 {
		t.Fatalf("Validate = %v, want one error", errs)
	}
	var fe *FieldError
	if !errors.As(errs[0], &fe) || fe.Error() != "targets[0].waitingPage: unknown value 9" {
		t.Errorf("error = %#v", errs[0])
	}
	c.Targets[0].WaitingPage = 0
	c.Targets[0].Process.Dir = filepath.Join(t.TempDir(), "absent")
	if errs := c.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "targets[0].process.dir") {
		t.Errorf("Validate = %v, want the missing dir", errs)
	}
}

func TestLoadLocalErrorOrder(t *testing.T) {
	data := twoTargets("a", "a.localhost", "b", "b.localhost")
	data = strings.Replace(data, "name: a\n", "name: a\n    idleTimeout: x\n    maxHeld: 0\n", 1)
	data = strings.Replace(data, "name: b\n", "name: b\n    idleTimeout: y\n    maxHeld: 0\n", 1)
	path := writeConfig(t, data)
	_, err := LoadLocal(path)
	if err == nil {
		t.Fatal("LoadLocal succeeded")
	}
	var got []string
	for _, line := range strings.Split(err.Error(), "\n") {
		field, _, _ := strings.Cut(strings.TrimPrefix(line, path+": "), ":")
		got = append(got, field)
	}
	want := []string{"targets[0].idleTimeout", "targets[0].maxHeld", "targets[1].idleTimeout", "targets[1].maxHeld"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("error fields in order %q, want %q", got, want)
	}
}
