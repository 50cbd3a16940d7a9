package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// defaultOptions returns the options as the flags set them when none is given.
func defaultOptions(t *testing.T) ServerOptions {
	t.Helper()
	var o ServerOptions
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestValidateDefaultsAreValid(t *testing.T) {
	t.Parallel()
	o := defaultOptions(t)
	if errs := o.Validate(); len(errs) != 0 {
		t.Fatalf("defaults: %v", errs)
	}
}

// TestValidateNamesTheFlag: each bad value gives exactly one error, which names its flag
// and the value.
func TestValidateNamesTheFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		edit func(*ServerOptions)
		want []string // substrings of the one error
	}{
		{"envoy addr without port", func(o *ServerOptions) { o.EnvoyAddr = "localhost" }, []string{"--envoy-addr", `"localhost"`}},
		{"admin addr empty", func(o *ServerOptions) { o.AdminAddr = "" }, []string{"--admin-addr", `""`}},
		{"scaler addr too many colons", func(o *ServerOptions) { o.ScalerAddr = "a:b:c" }, []string{"--scaler-addr", `"a:b:c"`}},
		{"max held zero", func(o *ServerOptions) { o.MaxHeld = 0 }, []string{"--max-held", "0", "at least 1"}},
		{"max held negative", func(o *ServerOptions) { o.MaxHeld = -5 }, []string{"--max-held", "-5"}},
		{"retry after below a second", func(o *ServerOptions) { o.RetryAfter = 500e6 }, []string{"--retry-after", "500ms", "at least 1s"}},
		{"negative shutdown delay", func(o *ServerOptions) { o.ShutdownDelay = -1e9 }, []string{"--shutdown-delay", "-1s"}},
		{"negative shutdown timeout", func(o *ServerOptions) { o.ShutdownTimeout = -2e9 }, []string{"--shutdown-timeout", "-2s"}},
		{"envoy cert without key", func(o *ServerOptions) { o.EnvoyTLS.Cert = "c.pem" }, []string{"--envoy-tls-cert", "--envoy-tls-key"}},
		{"envoy key without cert", func(o *ServerOptions) { o.EnvoyTLS.Key = "k.pem" }, []string{"--envoy-tls-cert", "--envoy-tls-key"}},
		{"envoy ca without cert", func(o *ServerOptions) { o.EnvoyTLS.CA = "ca.pem" }, []string{"--envoy-tls-ca", "--envoy-tls-cert"}},
		{"scaler cert without key", func(o *ServerOptions) { o.ScalerTLS.Cert = "c.pem" }, []string{"--scaler-tls-cert", "--scaler-tls-key"}},
		{"scaler ca without cert", func(o *ServerOptions) { o.ScalerTLS.CA = "ca.pem" }, []string{"--scaler-tls-ca"}},
		{"log format", func(o *ServerOptions) { o.LogFormat = "xml" }, []string{"--log-format", `"xml"`}},
		{"log level", func(o *ServerOptions) { o.LogLevel = "loud" }, []string{"--log-level", `"loud"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions(t)
			tt.edit(&o)
			errs := o.Validate()
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs[0].Error(), w) {
					t.Errorf("error %q does not contain %q", errs[0], w)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	o := defaultOptions(t)
	o.EnvoyAddr, o.MaxHeld, o.LogFormat, o.ScalerTLS.CA = "nope", 0, "yaml", "ca.pem"
	got := errors.Join(o.Validate()...)
	for _, flag := range []string{"--envoy-addr", "--max-held", "--log-format", "--scaler-tls-ca"} {
		if got == nil || !strings.Contains(got.Error(), flag) {
			t.Errorf("errors %v do not name %s", got, flag)
		}
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		want []string // substrings of the UsageError; nil for success
	}{
		{"no flags", nil, nil},
		{"known flags", []string{"--max-held", "7", "-log-format=text"}, nil},
		{"unknown flag", []string{"--nope"}, []string{"local:", "-nope"}},
		{"bad value", []string{"--max-held", "many"}, []string{"local:", "max-held", "many"}},
		{"stray argument", []string{"--max-held", "7", "extra"}, []string{"local:", `unexpected argument "extra"`}},
		{"-h", []string{"-h"}, []string{"local flags:", "-envoy-addr", "-shutdown-delay"}},
		{"--help", []string{"--help"}, []string{"local flags:", "-admin-addr"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("local", flag.ContinueOnError)
			var o ServerOptions
			o.register(fs)
			err := parseFlags(fs, tt.args)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("parseFlags(%q): %v", tt.args, err)
				}
				return
			}
			var u *UsageError
			if !errors.As(err, &u) {
				t.Fatalf("parseFlags(%q) = %v (%T), want a *UsageError", tt.args, err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	usage := &UsageError{Err: errors.New("bad flag")}
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"usage error", usage, 2},
		{"wrapped usage error", fmt.Errorf("local: %w", usage), 2},
		{"joined with a usage error", errors.Join(errors.New("other"), usage), 2},
		{"usageErrorf", usageErrorf("unknown command %q", "x"), 2},
		{"plain error", errors.New("listen: address in use"), 1},
	} {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("%s: ExitCode(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestUsageErrorUnwraps(t *testing.T) {
	t.Parallel()
	inner := errors.New("inner")
	err := &UsageError{Err: inner}
	if !errors.Is(err, inner) || err.Error() != "inner" {
		t.Fatalf("UsageError{inner}: Is %v, Error %q", errors.Is(err, inner), err.Error())
	}
}

// TestNewLogger: each format writes its own encoding, the level filters (names in any
// case), and bad values are errors naming the flag and the value.
func TestNewLogger(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		format, level string
		wantErr       []string
		lowest        slog.Level // the lowest level written
	}{
		{format: "json", level: "info", lowest: slog.LevelInfo},
		{format: "text", level: "info", lowest: slog.LevelInfo},
		{format: "json", level: "debug", lowest: slog.LevelDebug},
		{format: "text", level: "DEBUG", lowest: slog.LevelDebug},
		{format: "json", level: "Warn", lowest: slog.LevelWarn},
		{format: "text", level: "error", lowest: slog.LevelError},
		{format: "json", level: "loud", wantErr: []string{"--log-level", `"loud"`}},
		{format: "json", level: "", wantErr: []string{"--log-level", `""`}},
		{format: "xml", level: "info", wantErr: []string{"--log-format", `"xml"`}},
		{format: "JSON", level: "info", wantErr: []string{"--log-format", `"JSON"`}},
	} {
		name := tt.format + "/" + tt.level
		var buf bytes.Buffer
		log, err := newLogger(&buf, tt.format, tt.level)
		if tt.wantErr != nil {
			if err == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not contain %q", name, err, w)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		levels := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}
		for _, l := range levels {
			log.Log(t.Context(), l, "record-"+l.String(), "k", 1)
		}
		out := buf.String()
		for _, l := range levels {
			if got, want := strings.Contains(out, "record-"+l.String()), l >= tt.lowest; got != want {
				t.Errorf("%s: %s record written %v, want %v:\n%s", name, l, got, want, out)
			}
		}
		checkEncoding(t, name, tt.format, out)
	}
}

// checkEncoding checks that every line of out is a JSON object (json) or key=value text
// (text).
func checkEncoding(t *testing.T, name, format, out string) {
	t.Helper()
	for line := range strings.Lines(out) {
		switch format {
		case "json":
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["level"] == nil || rec["msg"] == nil {
				t.Errorf("%s: not a JSON record with level and msg: %q (%v)", name, line, err)
			}
		case "text":
			if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=") {
				t.Errorf("%s: not a text record: %q", name, line)
			}
		}
	}
}
