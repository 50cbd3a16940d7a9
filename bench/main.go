// Command bench measures wakegate end to end, through a real Envoy, on loopback only:
//
//   - warm: a ready target at fixed request rates (vegeta's constant-rate attacker), Envoy
//     alone vs Envoy + ext_proc vs Envoy + ext_authz, with latency percentiles and the
//     latency and CPU wakegate adds;
//   - held: many requests held across many targets at zero, then released together: memory
//     and goroutines while held, and how long the release takes.
//
// It builds wakegate and the sample app from the repository, finds Envoy like the
// integration tests ($ENVOY_BIN or `make envoy`'s), prints a summary and optionally writes
// the results as JSON. See bench/README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		if errors.As(err, new(usageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
