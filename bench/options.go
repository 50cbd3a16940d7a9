package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options are the command's flags. Plain data, set once by parseOptions.
type options struct {
	Scenarios []string // "warm", "held"
	WorkDir   string   // binaries, configs and logs; a temporary directory if empty
	Keep      bool     // keep WorkDir (always kept when given)
	JSON      string   // write the results here as JSON
	Envoy     string   // Envoy binary; found like the integration tests if empty

	EnvoyConcurrency int // Envoy worker threads in both scenarios
	Warm             warmOptions
	Held             heldOptions
}

// usageError is a bad command line.
type usageError struct{ error }

var allScenarios = []string{"warm", "held"}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	scenarios := fs.String("scenarios", "warm,held", "comma-separated scenarios to run: warm, held")
	rates := fs.String("rates", "500,1000", "comma-separated request rates (req/s) of the warm scenario")
	fs.StringVar(&o.WorkDir, "workdir", "", "directory for binaries, configs and logs (default: a temporary one, removed unless -keep)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary work directory (logs of Envoy, wakegate and the app)")
	fs.StringVar(&o.JSON, "json", "", "also write the results as JSON to this `file`")
	fs.StringVar(&o.Envoy, "envoy", "", "Envoy `binary` (default: $ENVOY_BIN, else the one `make envoy` installs)")
	fs.IntVar(&o.EnvoyConcurrency, "envoy-concurrency", 1, "Envoy worker threads")
	fs.DurationVar(&o.Warm.Duration, "duration", 10*time.Second, "warm: length of one measured attack (one mode, one rate, one round)")
	fs.IntVar(&o.Warm.Rounds, "rounds", 2, "warm: rounds per rate; each round runs every mode once, in a rotated order")
	fs.DurationVar(&o.Warm.Warmup, "warmup", 2*time.Second, "warm: unmeasured attack per mode before measuring")
	fs.IntVar(&o.Held.Targets, "targets", 1000, "held: targets at zero")
	fs.IntVar(&o.Held.Requests, "held", 10000, "held: requests held (spread evenly over the targets)")
	fs.DurationVar(&o.Held.ReadyInterval, "ready-interval", 100*time.Millisecond, "held: the targets' readiness probe interval")
	fs.DurationVar(&o.Held.HoldTimeout, "hold-timeout", 90*time.Second, "held: the targets' holdTimeout (bounds the scenario)")
	fs.IntVar(&o.Held.StreamsPerConn, "streams-per-conn", 50, "held: HTTP/2 streams per client connection to Envoy")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var b strings.Builder
			fs.SetOutput(&b)
			fs.PrintDefaults()
			return o, usageError{fmt.Errorf("flags:\n%s", b.String())}
		}
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	var errs []error
	o.Scenarios, errs = parseScenarios(*scenarios)
	r, err := parseRates(*rates)
	errs = append(errs, err)
	o.Warm.Rates = r
	errs = append(errs, o.validate()...)
	if err := errors.Join(errs...); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

func parseScenarios(s string) ([]string, []error) {
	var out []string
	var errs []error
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(allScenarios, name) {
			errs = append(errs, fmt.Errorf("-scenarios: unknown scenario %q (want warm or held)", name))
			continue
		}
		out = append(out, name)
	}
	return out, errs
}

func parseRates(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 20000 {
			return nil, fmt.Errorf("-rates: %q is not a rate between 1 and 20000 req/s", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func (o options) validate() []error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.EnvoyConcurrency < 1, "-envoy-concurrency %d: must be at least 1", o.EnvoyConcurrency)
	check(o.Warm.Duration < time.Second, "-duration %v: must be at least 1s", o.Warm.Duration)
	check(o.Warm.Rounds < 1, "-rounds %d: must be at least 1", o.Warm.Rounds)
	check(o.Warm.Warmup < 0, "-warmup %v: must not be negative", o.Warm.Warmup)
	check(o.Held.Targets < 1 || o.Held.Targets > 9999, "-targets %d: must be between 1 and 9999", o.Held.Targets)
	check(o.Held.Requests < o.Held.Targets, "-held %d: must be at least -targets (%d)", o.Held.Requests, o.Held.Targets)
	check(o.Held.ReadyInterval < 10*time.Millisecond, "-ready-interval %v: must be at least 10ms", o.Held.ReadyInterval)
	check(o.Held.HoldTimeout < 10*time.Second, "-hold-timeout %v: must be at least 10s", o.Held.HoldTimeout)
	check(o.Held.StreamsPerConn < 1 || o.Held.StreamsPerConn > 100, "-streams-per-conn %d: must be between 1 and 100", o.Held.StreamsPerConn)
	return errs
}
