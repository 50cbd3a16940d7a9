// Package config turns wakegate's configuration files into validated structs.
//
// The local-mode file (LoadLocal) lists targets that are local processes. Its YAML format is
// a public contract: fields may be added, never renamed or given a new meaning.
package config

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/wakegate/wakegate/internal/gate"
)

// Defaults LoadLocal fills in for fields a target leaves out.
const (
	DefaultReadyInterval   = 100 * time.Millisecond
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultStopGracePeriod = 10 * time.Second
)

// Local is the local-mode configuration. A Local is plain data: not safe for concurrent
// mutation, and safe to read from many goroutines once loaded.
type Local struct {
	// File is the file the configuration came from; error messages start with it.
	File    string
	Targets []LocalTarget
}

// LocalTarget is one target: which requests belong to it, how to run it, when it is ready
// and how requests wait for it.
type LocalTarget struct {
	Name            string // unique; a-z, 0-9 and "-", at most 63, starting with a letter or digit
	Match           Match
	Process         Process
	Readiness       Readiness
	IdleTimeout     time.Duration    // stop after no request for this long; > 0
	HoldTimeout     time.Duration    // longest a request waits for readiness; > 0
	WaitingPage     gate.WaitingPage // when browsers get the waiting page
	StopGracePeriod time.Duration    // SIGTERM, then SIGKILL after this; >= 0
	MaxHeld         int              // most requests held at once; >= 1
}

// Match says which requests belong to a target (see route.Rule).
type Match struct {
	Hosts        []string          `json:"hosts"`        // at least one; "name", "*.suffix", optionally ":port"
	PathPrefixes []string          `json:"pathPrefixes"` // default ["/"]
	Headers      map[string]string `json:"headers"`      // exact values; names case-insensitive
}

// Process is how to run a target. After LoadLocal, Dir is absolute and a relative
// Command[0] containing a slash has been joined to it.
type Process struct {
	Command []string `json:"command"` // program and arguments
	Dir     string   `json:"dir"`     // working directory; default: the config file's directory
	// Env is added to wakegate's environment. Quote values such as yes, no, on and off:
	// YAML 1.1 reads them unquoted as booleans, which become "true" and "false".
	Env map[string]string `json:"env"`
}

// Readiness is how to tell that a started process can serve: exactly one of HTTP (a URL
// answering 2xx or 3xx) and TCP (a host:port accepting connections).
type Readiness struct {
	HTTP     string
	TCP      string
	Interval time.Duration // between probes; > 0
}

// localFile and targetFile mirror the YAML. Durations are strings so that a bad one can
// be reported with its field path; absent fields are empty (or nil) and get defaults.
type localFile struct {
	Targets []targetFile `json:"targets"`
}

type targetFile struct {
	Name            string        `json:"name"`
	Match           Match         `json:"match"`
	Process         Process       `json:"process"`
	Readiness       readinessFile `json:"readiness"`
	IdleTimeout     string        `json:"idleTimeout"`
	HoldTimeout     string        `json:"holdTimeout"`
	WaitingPage     string        `json:"waitingPage"`
	StopGracePeriod string        `json:"stopGracePeriod"`
	MaxHeld         *int          `json:"maxHeld"`
}

type readinessFile struct {
	HTTP     string `json:"http"`
	TCP      string `json:"tcp"`
	Interval string `json:"interval"`
}

// LoadLocal reads the local-mode configuration at path, applies defaults, resolves
// process directories against the file's directory and validates the result. The error
// lists every problem found, each naming the file, the field and the value.
func LoadLocal(path string) (*Local, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("local config: %w", err)
	}
	return ParseLocal(path, data)
}

// ParseLocal is LoadLocal for configuration already read from file.
func ParseLocal(file string, data []byte) (*Local, error) {
	var raw localFile
	if err := yaml.UnmarshalStrict(data, &raw); err != nil {
		return nil, decodeError(file, err)
	}
	base, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	c := &Local{File: file, Targets: make([]LocalTarget, 0, len(raw.Targets))}
	var errs []error
	for i, rt := range raw.Targets {
		t, terrs := rt.convert(file, fmt.Sprintf("targets[%d]", i), base)
		c.Targets = append(c.Targets, t)
		errs = append(errs, terrs...)
	}
	errs = append(errs, c.Validate()...)
	if len(errs) > 0 {
		sortByTarget(errs)
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// sortByTarget orders field errors by target index (file-wide ones first), keeping the
// order within a target.
func sortByTarget(errs []error) {
	index := func(err error) int {
		var fe *FieldError
		if !errors.As(err, &fe) {
			return -1
		}
		var i int
		if _, scanErr := fmt.Sscanf(fe.Field, "targets[%d]", &i); scanErr != nil {
			return -1
		}
		return i
	}
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(index(a), index(b)) })
}

// convert applies defaults and parses durations; a value that does not parse is reported
// and left at its default, so Validate does not report it twice.
func (rt targetFile) convert(file, path, base string) (LocalTarget, []error) {
	p := parser{file: file}
	t := LocalTarget{
		Name:    rt.Name,
		Match:   rt.Match,
		Process: resolveProcess(rt.Process, base),
		Readiness: Readiness{HTTP: rt.Readiness.HTTP, TCP: rt.Readiness.TCP,
			Interval: p.duration(path+".readiness.interval", rt.Readiness.Interval, DefaultReadyInterval)},
		IdleTimeout:     p.duration(path+".idleTimeout", rt.IdleTimeout, DefaultIdleTimeout),
		HoldTimeout:     p.duration(path+".holdTimeout", rt.HoldTimeout, gate.DefaultHoldTimeout),
		StopGracePeriod: p.duration(path+".stopGracePeriod", rt.StopGracePeriod, DefaultStopGracePeriod),
		MaxHeld:         gate.DefaultMaxHeld,
	}
	if len(t.Match.PathPrefixes) == 0 {
		t.Match.PathPrefixes = []string{"/"}
	}
	if rt.MaxHeld != nil {
		t.MaxHeld = *rt.MaxHeld
	}
	wp, err := gate.ParseWaitingPage(rt.WaitingPage)
	if err != nil {
		p.fail(path+".waitingPage", "want onTimeout, immediate or off, got %q", rt.WaitingPage)
	}
	t.WaitingPage = wp
	return t, p.errs
}

// resolveProcess makes Dir absolute (relative to base) and joins a relative Command[0]
// that contains a slash to it.
func resolveProcess(pr Process, base string) Process {
	switch {
	case pr.Dir == "":
		pr.Dir = base
	case !filepath.IsAbs(pr.Dir):
		pr.Dir = filepath.Join(base, pr.Dir)
	}
	if len(pr.Command) > 0 && strings.Contains(pr.Command[0], "/") && !filepath.IsAbs(pr.Command[0]) {
		pr.Command = append([]string{filepath.Join(pr.Dir, pr.Command[0])}, pr.Command[1:]...)
	}
	return pr
}

// parser collects field errors for one file.
type parser struct {
	file string
	errs []error
}

func (p *parser) fail(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// duration parses s, or returns def if s is empty or does not parse (reporting it).
func (p *parser) duration(field, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.fail(field, "invalid duration %q (want a number with a unit, like 100ms, 30s or 5m)", s)
		return def
	}
	return d
}

// decodeError turns a YAML or JSON decoding error into one naming the file and, where the
// decoder knows it, the field.
func decodeError(file string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &FieldError{File: file, Field: typeErr.Field,
			Msg: fmt.Sprintf("got %s, want %s", valueName(typeErr.Value), kindName(typeErr.Type))}
	}
	for inner := errors.Unwrap(err); inner != nil; inner = errors.Unwrap(err) {
		err = inner // the decoder's own message, without the YAML library's wrapping
	}
	return fmt.Errorf("%s: %w", file, err)
}

// valueName describes a JSON value kind as UnmarshalTypeError.Value names it.
func valueName(v string) string {
	switch v {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "string", "number":
		return "a " + v
	case "bool":
		return "a boolean"
	}
	return v // e.g. "number 1e+100"
}

// kindName describes the Go type a value was decoded into.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return t.String()
}
