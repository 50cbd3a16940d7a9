package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/peer"
)

// ServerOptions are the flags every serving subcommand shares.
type ServerOptions struct {
	EnvoyAddr  string // gRPC listen address for Envoy (ext_proc, ext_authz)
	AdminAddr  string // HTTP listen address for /healthz, /readyz, /metrics, /status
	ScalerAddr string // gRPC listen address for KEDA's external scaler calls
	PortsFile  string // if set, the bound addresses are written here as JSON

	LogFormat string // json or text
	LogLevel  string // debug, info, warn or error

	MaxHeld                int           // most requests held across all targets
	RetryAfter             time.Duration // Retry-After sent with 503 answers
	ShutdownDelay          time.Duration // time between "draining" and answering held requests
	ShutdownTimeout        time.Duration // bound on the gRPC graceful stop
	MessageTimeoutOverride bool          // send override_message_timeout when a hold starts

	PeerAddr      string        // gRPC listen address for the other wakegate replicas
	Peers         string        // comma-separated host:port of the other replicas (may include this one)
	ReplicaID     string        // this replica's identity among its peers
	PeerStaleness time.Duration // how long a silent peer's last counts are kept

	EnvoyTLS  TLSFiles // optional TLS (and client-certificate checks) for the Envoy port
	ScalerTLS TLSFiles // optional TLS for the scaler port
}

// TLSFiles names PEM files for a TLS server; CA, if set, turns on client-certificate checks.
type TLSFiles struct{ Cert, Key, CA string }

func (o *ServerOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.EnvoyAddr, "envoy-addr", ":9001", "gRPC `address` Envoy calls (ext_proc, ext_authz)")
	fs.StringVar(&o.AdminAddr, "admin-addr", ":8080", "HTTP `address` for /healthz, /readyz, /metrics, /status")
	fs.StringVar(&o.ScalerAddr, "scaler-addr", ":9090", "gRPC `address` for KEDA's external scaler")
	fs.StringVar(&o.PeerAddr, "peer-addr", ":9091", "gRPC `address` the other wakegate replicas subscribe to")
	fs.StringVar(&o.Peers, "peers", "", "comma-separated `host:port` peer addresses of the other replicas (this replica may be listed; it skips itself)")
	fs.StringVar(&o.ReplicaID, "replica-id", defaultReplicaID(), "this replica's `id` among its peers (default $POD_NAME, else hostname-pid)")
	fs.DurationVar(&o.PeerStaleness, "peer-staleness", peer.DefaultStaleness, "keep a silent peer's last counts this long before dropping it")
	fs.StringVar(&o.PortsFile, "ports-file", "", "write the bound addresses as JSON to this `file` once listening")
	fs.StringVar(&o.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&o.MaxHeld, "max-held", gate.DefaultMaxHeldAll, "most requests held at once across all targets")
	fs.DurationVar(&o.RetryAfter, "retry-after", gate.DefaultRetryAfter, "Retry-After sent with 503 answers")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, report not ready this long before answering held requests")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "bound on waiting for open gRPC streams at shutdown")
	fs.BoolVar(&o.MessageTimeoutOverride, "message-timeout-override", false,
		"send ext_proc override_message_timeout when a hold starts (Envoy needs max_message_timeout set)")
	fs.StringVar(&o.EnvoyTLS.Cert, "envoy-tls-cert", "", "PEM certificate `file` for the Envoy port (reloaded when it changes)")
	fs.StringVar(&o.EnvoyTLS.Key, "envoy-tls-key", "", "PEM private key `file` for the Envoy port")
	fs.StringVar(&o.EnvoyTLS.CA, "envoy-tls-ca", "", "PEM CA `file`: require client certificates signed by it on the Envoy port")
	fs.StringVar(&o.ScalerTLS.Cert, "scaler-tls-cert", "", "PEM certificate `file` for the scaler port")
	fs.StringVar(&o.ScalerTLS.Key, "scaler-tls-key", "", "PEM private key `file` for the scaler port")
	fs.StringVar(&o.ScalerTLS.CA, "scaler-tls-ca", "", "PEM CA `file`: require client certificates signed by it on the scaler port")
}

// Validate reports every problem with the options.
func (o *ServerOptions) Validate() []error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"--envoy-addr", o.EnvoyAddr}, {"--admin-addr", o.AdminAddr}, {"--scaler-addr", o.ScalerAddr}, {"--peer-addr", o.PeerAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", a.flag, a.addr, err))
		}
	}
	for _, p := range splitList(o.Peers) {
		if _, _, err := net.SplitHostPort(p); err != nil {
			errs = append(errs, fmt.Errorf("--peers: %q: %w", p, err))
		}
	}
	if o.ReplicaID == "" {
		errs = append(errs, errors.New("--replica-id must not be empty"))
	}
	if o.PeerStaleness <= 0 {
		errs = append(errs, fmt.Errorf("--peer-staleness %s: must be positive", o.PeerStaleness))
	}
	if o.MaxHeld < 1 {
		errs = append(errs, fmt.Errorf("--max-held %d: must be at least 1", o.MaxHeld))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		min  time.Duration
	}{{"--retry-after", o.RetryAfter, time.Second}, {"--shutdown-delay", o.ShutdownDelay, 0}, {"--shutdown-timeout", o.ShutdownTimeout, 0}} {
		if d.v < d.min {
			errs = append(errs, fmt.Errorf("%s %s: must be at least %s", d.flag, d.v, d.min))
		}
	}
	errs = append(errs, o.EnvoyTLS.validate("--envoy-tls")...)
	errs = append(errs, o.ScalerTLS.validate("--scaler-tls")...)
	if _, err := newLogger(io.Discard, o.LogFormat, o.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// defaultReplicaID is $POD_NAME (the downward API) or hostname-pid.
func defaultReplicaID() string {
	if name := os.Getenv("POD_NAME"); name != "" {
		return name
	}
	host, err := os.Hostname()
	if err != nil {
		host = "wakegate"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

func (f TLSFiles) validate(prefix string) []error {
	var errs []error
	if (f.Cert == "") != (f.Key == "") {
		errs = append(errs, fmt.Errorf("%s-cert and %s-key must be given together", prefix, prefix))
	}
	if f.CA != "" && f.Cert == "" {
		errs = append(errs, fmt.Errorf("%s-ca needs %s-cert and %s-key", prefix, prefix, prefix))
	}
	return errs
}

// parseFlags parses args into fs and turns problems into a UsageError.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &UsageError{Err: fmt.Errorf("%s flags:\n%s", fs.Name(), flagUsage(fs))}
		}
		return &UsageError{Err: fmt.Errorf("%s: %w", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usageErrorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func flagUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}
