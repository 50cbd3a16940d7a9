// Command wakegate holds requests for workloads at zero and wakes them, beside Envoy.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wakegate/wakegate/internal/app"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wakegate:", err)
		os.Exit(app.ExitCode(err))
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return app.Main(ctx, app.Env{Args: os.Args[1:], Stdout: os.Stdout, Stderr: os.Stderr, Version: version})
}
