// Package tlsreload serves a TLS server certificate, and optionally the CA that client
// certificates must chain to, from PEM files that may be replaced while the server runs —
// cert-manager renewing a Secret in place, or Kubernetes swapping a Secret volume's
// "..data" symlink. New connections get the new files without a restart; connections
// already established keep the certificate they were made with.
//
// Changes are found without a goroutine: a TLS handshake re-reads the files when at least
// the check interval (a second) passed since the last check, and swaps in the new pair if
// their contents changed and parse. Comparing contents, not modification times, catches
// in-place rewrites within a timestamp tick and symlink swaps alike.
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is the least time between two checks of the files.
const DefaultCheckInterval = time.Second

// Files name the PEM files a Reloader serves.
type Files struct {
	// Cert is the certificate chain, leaf first. Required.
	Cert string
	// Key is the leaf's private key. Required.
	Key string
	// CA, if set, is a bundle of CA certificates; clients must then present a certificate
	// that chains to one of them.
	CA string
}

// Reloader hands TLS handshakes the current certificate (and client CA pool), re-reading
// the files at most once per check interval, on a handshake. It is safe for concurrent
// use: handshakes read the current configuration from an atomic pointer, and one mutex
// serializes the checks (a handshake that finds a check due waits for it, or for one in
// progress, before it proceeds). It owns no goroutine and needs no Close.
type Reloader struct {
	files    Files
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time // tests replace it before serving

	cur  atomic.Pointer[tls.Config] // per-handshake config for the files last loaded
	next atomic.Int64               // UnixNano before which no check runs

	mu      sync.Mutex // guards the fields below and the loading
	seen    contents   // the files' contents last read and parsed (loaded or rejected)
	lastErr string     // the last failure logged, to log each failure once
}

// New loads f and returns a Reloader serving it; the error names the file at fault. A nil
// logger discards.
func New(f Files, log *slog.Logger) (*Reloader, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("tlsreload: both a cert file and a key file are required (cert %q, key %q)", f.Cert, f.Key)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{files: f, log: log, interval: DefaultCheckInterval, now: time.Now}
	if _, err := r.load(true); err != nil {
		return nil, err
	}
	r.next.Store(r.now().Add(r.interval).UnixNano())
	return r, nil
}

// ServerConfig returns a TLS configuration for a server (TLS 1.2 or later) that serves
// the current certificate and, when Files.CA is set, requires and verifies client
// certificates against the current CA bundle. Use it with grpc's credentials.NewTLS, which
// adds the "h2" protocol. Every call returns a new Config; all of them follow the files.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			r.maybeReload()
			return r.cur.Load(), nil
		},
	}
}

// Reload reads the files now, whatever the interval, and serves them if they parse. On
// error (naming the file) the previous certificate stays in use.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.load(true)
	if err == nil {
		r.lastErr = ""
	}
	return err
}

// Leaf returns the certificate being served now. The caller must not modify it.
func (r *Reloader) Leaf() *x509.Certificate {
	return r.cur.Load().Certificates[0].Leaf
}

// maybeReload checks the files if the interval has passed. A failure is logged (once per
// distinct failure) and keeps the current pair; the next change is tried again.
func (r *Reloader) maybeReload() {
	now := r.now()
	if now.UnixNano() < r.next.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.UnixNano() < r.next.Load() { // checked while this handshake waited
		return
	}
	r.next.Store(now.Add(r.interval).UnixNano())
	if _, err := r.load(false); err != nil {
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			r.log.Warn("tls files not reloaded; keeping the current certificate", "err", err)
		}
		return
	}
	r.lastErr = ""
}

// load reads and parses the files and swaps them in. Unless force, contents equal to the
// last ones seen are not parsed again. It reports whether a new pair is served. r.mu must
// be held, except in New.
func (r *Reloader) load(force bool) (bool, error) {
	c, err := r.files.read()
	if err != nil {
		return false, err
	}
	if !force && c.equal(r.seen) {
		return false, nil
	}
	r.seen = c
	cfg, err := r.files.parse(c)
	if err != nil {
		return false, err
	}
	r.cur.Store(cfg)
	leaf := cfg.Certificates[0].Leaf
	r.log.Info("tls certificate loaded", "cert", r.files.Cert, "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.String(), "notAfter", leaf.NotAfter, "clientCA", r.files.CA)
	return true, nil
}
