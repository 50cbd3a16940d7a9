package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

// results is everything one run measured. Plain data.
type results struct {
	Machine  machine      `json:"machine"`
	Started  time.Time    `json:"started"`
	Warm     *warmReport  `json:"warm,omitempty"`
	Held     *heldReport  `json:"held,omitempty"`
	Problems []string     `json:"problems,omitempty"`
	Options  optionsBrief `json:"options"`
}

// optionsBrief is the part of the options the report shows.
type optionsBrief struct {
	EnvoyConcurrency int         `json:"envoyConcurrency"`
	Warm             warmOptions `json:"warm"`
	Held             heldOptions `json:"held"`
}

// env is what every scenario needs: built binaries, Envoy and a directory of its own.
type env struct {
	bins        harness.Binaries
	envoy       string
	concurrency int
	dir         string // the run's work directory; scenarios make subdirectories
}

func run(ctx context.Context, args []string) (err error) {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	e, cleanup, err := prepare(ctx, o)
	if err != nil {
		cleanup(false) // nothing worth keeping: no scenario ran
		return err
	}
	defer func() { cleanup(err != nil) }()
	res := results{Machine: readMachine(ctx, e.envoy), Started: time.Now().UTC(),
		Options: optionsBrief{EnvoyConcurrency: o.EnvoyConcurrency, Warm: o.Warm, Held: o.Held}}
	printMachine(os.Stdout, res.Machine)
	if slices.Contains(o.Scenarios, "warm") {
		res.Warm, err = runWarm(ctx, e, o.Warm)
		if err != nil {
			return fmt.Errorf("warm scenario: %w (logs in %s)", err, e.dir)
		}
		res.Problems = append(res.Problems, res.Warm.Problems...)
		printWarm(os.Stdout, res.Warm)
	}
	if slices.Contains(o.Scenarios, "held") {
		res.Held, err = runHeld(ctx, e, o.Held)
		if err != nil {
			return fmt.Errorf("held scenario: %w (logs in %s)", err, e.dir)
		}
		res.Problems = append(res.Problems, res.Held.Problems...)
		printHeld(os.Stdout, res.Held)
	}
	res.Machine.LoadAtEnd = loadAvg()
	fmt.Printf("\nload average at the end: %s\n", res.Machine.LoadAtEnd)
	if o.JSON != "" {
		if err := writeJSON(o.JSON, res); err != nil {
			return err
		}
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d problem(s) during the run (see above); logs in %s", len(res.Problems), e.dir)
	}
	return nil
}

// prepare makes the work directory, finds Envoy and builds the binaries. cleanup(failed)
// removes a temporary work directory unless the run failed or the options keep it.
func prepare(ctx context.Context, o options) (env, func(failed bool), error) {
	e := env{envoy: o.Envoy, concurrency: o.EnvoyConcurrency, dir: o.WorkDir}
	cleanup := func(bool) {}
	if e.dir == "" {
		dir, err := os.MkdirTemp("", "wakegate-bench-")
		if err != nil {
			return e, cleanup, fmt.Errorf("work directory: %w", err)
		}
		e.dir = dir
		if !o.Keep {
			cleanup = func(failed bool) {
				if !failed {
					_ = os.RemoveAll(dir) // best effort: it is a temporary directory
				}
			}
		}
	} else if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return e, cleanup, fmt.Errorf("-workdir: %w", err)
	}
	if e.envoy == "" {
		bin, err := harness.FindEnvoy()
		if err != nil {
			return e, cleanup, err
		}
		e.envoy = bin
	}
	progress("building wakegate and sample-app into %s", e.dir)
	bins, err := harness.Build(ctx, harness.BuildOptions{Dir: filepath.Join(e.dir, "bin")})
	if err != nil {
		return e, cleanup, err
	}
	e.bins = bins
	return e, cleanup, nil
}

// scenarioDir makes a fresh subdirectory of the work directory for one scenario, removing
// the files of an earlier run (the harness would read a stale ports file).
func (e env) scenarioDir(name string) (string, error) {
	dir := filepath.Join(e.dir, name)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("%s directory: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s directory: %w", name, err)
	}
	return dir, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	return nil
}

// stopper stops what a scenario started, the last started first. Not safe for concurrent
// use.
type stopper struct {
	stops []func() error
}

// add registers p to be stopped; a process that does not exit 0 after SIGTERM (within
// harness.StopGrace) makes stopAll report it.
func (s *stopper) add(p interface{ Stop(time.Duration) error }) {
	s.stops = append(s.stops, func() error { return p.Stop(harness.StopGrace) })
}

// addFunc registers f.
func (s *stopper) addFunc(f func() error) { s.stops = append(s.stops, f) }

// stopAll runs every stop function, last added first, and joins their errors.
func (s *stopper) stopAll() error {
	var errs []error
	for i := len(s.stops) - 1; i >= 0; i-- {
		errs = append(errs, s.stops[i]())
	}
	s.stops = nil
	return errors.Join(errs...)
}

// progress reports what the run is doing, on stderr (stdout has the results).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// portOf returns the port of a host:port address.
func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("address %q: %w", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("address %q: port: %w", addr, err)
	}
	return n, nil
}
