package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadLocal parses arbitrary bytes: it must never panic, every error must name the
// file, and whatever is accepted must be accepted by the router and the provider too.
func FuzzLoadLocal(f *testing.F) {
	f.Add([]byte(twoTargetConfig))
	f.Add([]byte(twoTargets("a", "localhost", "b", "LOCALHOST")))
	f.Add([]byte("targets: [{name: x, match: {hosts: ['*.x:80']}, process: {command: [a]}, readiness: {tcp: 'h:1', interval: 1ns}, maxHeld: 1}]"))
	f.Add([]byte("targets:\n  - name: web\n    idleTimeout: -1s\n    waitingPage: sometimes\n"))
	f.Add([]byte("targets: &a [*a]\n"))
	f.Add([]byte("- 1\n"))
	f.Add([]byte("{"))
	f.Add([]byte(""))
	path := filepath.Join(f.TempDir(), "wakegate.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseLocal(path, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("error does not start with the file name: %v", err)
			}
			return
		}
		if errs := c.Validate(); len(errs) > 0 {
			t.Fatalf("accepted config does not validate: %v", errs)
		}
		checkUsable(t, c)
	})
}
