// Package harness starts and stops the real processes wakegate is tested with — Envoy, the
// wakegate binary and the sample app — for the integration tests and the local-mode demo.
//
// Every Start function returns a handle with an explicit Stop and leaves nothing running
// when it fails; the ForTest variants take a TB, stop the process in TB.Cleanup and print
// its output when the test failed. Handles are safe for concurrent use unless stated.
package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TB is the part of testing.TB the harness needs, so a program (the demo) can provide its
// own. testing.TB satisfies it.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Failed() bool
	TempDir() string
	Context() context.Context
}

// StartTimeout bounds how long the ForTest helpers wait for a process to come up.
const StartTimeout = 60 * time.Second

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL, in ForTest helpers.
const StopGrace = 15 * time.Second

// pollInterval is the pause between two checks of a condition in Poll.
const pollInterval = 20 * time.Millisecond

// Poll calls cond until it reports done, or ctx ends. A detail explains why it is not done
// yet; Poll's error on ctx's end includes the last one. A detail made with GiveUp ends the
// polling at once with that error.
func Poll(ctx context.Context, cond func() (done bool, detail error)) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var last error
	for {
		done, detail := cond()
		if done {
			return nil
		}
		var g giveUp
		if errors.As(detail, &g) {
			return g.error
		}
		if detail != nil {
			last = detail
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last: %w)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// giveUp marks a Poll detail as final.
type giveUp struct{ error }

// GiveUp wraps err so that Poll returns it at once instead of polling on.
func GiveUp(err error) error { return giveUp{err} }

// FreePort returns a loopback TCP port that was free a moment ago, for a process whose
// address must be known before it starts (an app wakegate will start, named in the Envoy
// config). Prefer 127.0.0.1:0 wherever the process can report its own address. The port is
// drawn below Linux's default ephemeral range (32768-60999), so outgoing connections and
// other processes' :0 listeners are unlikely to take it before it is used.
func FreePort() (int, error) {
	for range 100 {
		port := freePortLow + rand.IntN(freePortHigh-freePortLow)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// The range FreePort draws from first.
const freePortLow, freePortHigh = 20000, 32768

// FreePortForTest is FreePort failing t.
func FreePortForTest(t TB) int {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// RepoRoot returns the directory of wakegate's go.mod, searching upward from the working
// directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/wakegate/wakegate\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod of github.com/wakegate/wakegate above the working directory")
		}
		dir = parent
	}
}
