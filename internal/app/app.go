// Package app wires wakegate's parts together for each subcommand and owns their
// lifecycle: listeners, gRPC servers, the admin HTTP server, providers and shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// Env is what a subcommand gets from the process: arguments (without the program name),
// output streams and the build's version.
type Env struct {
	Args           []string
	Stdout, Stderr io.Writer
	Version        string
}

// UsageError marks bad flags, arguments or configuration: the process exits with 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by Main to a process exit code: 2 for usage errors,
// 1 otherwise.
func ExitCode(err error) int {
	var u *UsageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

const usage = `usage: wakegate <command> [flags]

commands:
  serve     run in Kubernetes: targets are KEDA ScaledObjects with an external-push trigger
  local     run against local processes described by a config file (--config)
  status    print a running replica's targets (counts merged over its peers) and peers
  version   print the version
Run "wakegate <command> -h" for the command's flags.`

// Main runs the subcommand named by env.Args[0] until ctx is cancelled (SIGTERM/SIGINT).
func Main(ctx context.Context, env Env) error {
	if len(env.Args) == 0 {
		return usageErrorf("no command given\n%s", usage)
	}
	switch cmd, args := env.Args[0], env.Args[1:]; cmd {
	case "serve":
		return runServe(ctx, env, args)
	case "local":
		return runLocal(ctx, env, args)
	case "status":
		return runStatus(ctx, env, args)
	case "version", "--version", "-version":
		_, err := fmt.Fprintf(env.Stdout, "wakegate %s (%s %s/%s)\n", env.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return err
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(env.Stdout, usage)
		return err
	default:
		return usageErrorf("unknown command %q\n%s", cmd, usage)
	}
}
