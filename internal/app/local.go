package app

import (
	"context"
	"errors"
	"flag"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/config"
	"github.com/wakegate/wakegate/internal/provider/local"
	"github.com/wakegate/wakegate/scaler"
)

// runLocal is `wakegate local`: targets are local processes described by --config.
func runLocal(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	var o ServerOptions
	o.register(fs)
	cfgPath := fs.String("config", "", "local configuration `file` (YAML)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	errs := o.Validate()
	if *cfgPath == "" {
		errs = append(errs, errors.New("--config is required"))
	}
	if len(errs) > 0 {
		return &UsageError{Err: errors.Join(errs...)}
	}
	log, err := newLogger(env.Stderr, o.LogFormat, o.LogLevel)
	if err != nil {
		return &UsageError{Err: err}
	}
	cfg, err := config.LoadLocal(*cfgPath)
	if err != nil {
		return &UsageError{Err: err}
	}
	tracker := activity.New(0)
	prov, err := local.New(local.Options{Specs: cfg.ProcessSpecs(), Tracker: tracker, Logger: log})
	if err != nil {
		return &UsageError{Err: err}
	}
	names := map[string]bool{}
	for _, t := range cfg.GateTargets() {
		names[t.Rule.Target] = true
	}
	s, err := newStack(stackConfig{Options: o, Logger: log, Tracker: tracker, Provider: prov, Targets: cfg.GateTargets(),
		Resolver: scaler.NameResolver(func(name string) bool { return names[name] })})
	if err != nil {
		return err
	}
	s.setTargets(cfg.GateTargets())
	s.infra = append(s.infra, prov.Run)
	log.Info("starting", "mode", "local", "config", *cfgPath, "targets", len(names), "version", env.Version)
	return s.run(ctx)
}
