// Command demo runs wakegate's local-mode tour: a real Envoy on :10000 in front of a sample
// app that is not running; wakegate (ext_proc) holds the first request, starts the app and
// releases the request once the app is ready; later requests are warm; after the idle
// timeout wakegate stops the app; the next request wakes it again.
//
// With DEMO_ONESHOT=1 it exits after the tour (non-zero if a step failed); otherwise it
// keeps the stack running until Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wakegate/wakegate/integration/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	envoyBin, wakegateBin, config, envoyConfig, logDir string
	oneshot                                            bool
}

func run() error {
	var o options
	flag.StringVar(&o.envoyBin, "envoy-bin", os.Getenv("ENVOY_BIN"), "Envoy binary")
	flag.StringVar(&o.wakegateBin, "wakegate-bin", "bin/wakegate", "wakegate binary")
	flag.StringVar(&o.config, "config", "examples/demo/wakegate.yaml", "wakegate local config")
	flag.StringVar(&o.envoyConfig, "envoy-config", "envoy/local/envoy.yaml", "Envoy bootstrap")
	flag.StringVar(&o.logDir, "log-dir", ".artifacts/demo", "where process logs go")
	flag.Parse()
	o.oneshot = os.Getenv("DEMO_ONESHOT") == "1"
	if o.envoyBin == "" {
		return errors.New("no Envoy: pass --envoy-bin or set ENVOY_BIN (make demo installs it)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := startStack(ctx, o)
	if err != nil {
		return err
	}
	defer st.stop()
	tourErr := tour(ctx, st)
	if o.oneshot || tourErr != nil || ctx.Err() != nil {
		return tourErr
	}
	fmt.Printf("\nThe stack keeps running: open http://localhost:10000 (wakegate status: %s/status). Ctrl-C to stop.\n", st.wg.AdminURL())
	<-ctx.Done()
	fmt.Println("\nstopping…")
	return nil
}

// stack is the demo's running processes.
type stack struct {
	wg    *harness.Wakegate
	envoy *harness.Envoy
}

func startStack(ctx context.Context, o options) (*stack, error) {
	if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		return nil, err
	}
	cfg, err := filepath.Abs(o.config)
	if err != nil {
		return nil, err
	}
	p, err := harness.StartProcess(harness.ProcessOptions{Name: "wakegate", Path: o.wakegateBin,
		LogPath: filepath.Join(o.logDir, "wakegate.log"),
		Args: []string{"local", "--config", cfg, "--envoy-addr", "127.0.0.1:9001", "--admin-addr", "127.0.0.1:8080",
			"--scaler-addr", "127.0.0.1:9090", "--peer-addr", "127.0.0.1:9091", "--log-format", "text", "--shutdown-delay", "0s"}})
	if err != nil {
		return nil, err
	}
	st := &stack{wg: &harness.Wakegate{Process: p, Ports: harness.Ports{Envoy: "127.0.0.1:9001", Admin: "127.0.0.1:8080", Scaler: "127.0.0.1:9090"}, ConfigPath: cfg}}
	if err := awaitHTTP(ctx, st.wg.AdminURL()+"/readyz"); err != nil {
		st.stop()
		return nil, fmt.Errorf("wakegate did not start (log: %s): %w", p.LogPath(), err)
	}
	envoyCfg, err := os.ReadFile(o.envoyConfig)
	if err != nil {
		st.stop()
		return nil, err
	}
	st.envoy, err = harness.StartEnvoy(ctx, harness.EnvoyOptions{Bin: o.envoyBin, Config: string(envoyCfg), Dir: o.logDir, Name: "envoy"})
	if err != nil {
		st.stop()
		return nil, err
	}
	fmt.Printf("Envoy 1.40 on :10000 (admin :9901) → ext_proc → wakegate (:9001, admin :8080); logs in %s/\n\n", o.logDir)
	return st, nil
}

func (s *stack) stop() {
	if s.envoy != nil {
		_ = s.envoy.Stop(5 * time.Second)
	}
	if s.wg != nil {
		_ = s.wg.Stop(10 * time.Second)
	}
}
