// Command sample-app is a tiny HTTP server for trying wakegate's local mode and for its
// tests: it can pretend to start slowly (--startup-delay), answers /healthz with "ok" and
// every other path with a small HTML page, and shuts down gracefully on SIGTERM/SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv("GREETING")); err != nil {
		fmt.Fprintln(os.Stderr, "sample-app:", err)
		stop()
		os.Exit(1)
	}
}

// options are the app's flags and environment.
type options struct {
	listen       string        // address to listen on
	startupDelay time.Duration // pause before listening
	name         string        // shown on the page and in x-sample-app
	greeting     string        // shown on the page (env GREETING)
}

func parseOptions(args []string, greeting string) (options, error) {
	o := options{greeting: greeting}
	fs := flag.NewFlagSet("sample-app", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:18080", "`address` to listen on")
	fs.DurationVar(&o.startupDelay, "startup-delay", 0, "wait this long before listening (simulates a slow start)")
	fs.StringVar(&o.name, "name", "sample-app", "`name` shown on the page and in the x-sample-app header")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.startupDelay < 0 {
		return o, fmt.Errorf("--startup-delay %s: must not be negative", o.startupDelay)
	}
	if o.greeting == "" {
		o.greeting = "hello"
	}
	return o, nil
}

// run serves until ctx is cancelled, then shuts the server down gracefully. It writes
// "listening on ADDR" to stdout once the listener is open.
func run(ctx context.Context, args []string, stdout io.Writer, greeting string) error {
	o, err := parseOptions(args, greeting)
	if err != nil {
		return err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return nil // asked to stop while still "starting"
	case <-time.After(o.startupDelay):
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newHandler(o, start), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
