package tlsreload

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

// authority is a throwaway CA.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newAuthority(t *testing.T, cn string) *authority {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &authority{cert: cert, key: key, pem: certPEM(der), pool: pool}
}

// pair is a PEM certificate and key issued by an authority.
type pair struct {
	cert, key []byte
	serial    int64
}

// issue makes a leaf for 127.0.0.1 (server) or a client certificate.
func (a *authority) issue(t *testing.T, serial int64, cn string, client bool) pair {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatalf("issue %s: %v", cn, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return pair{cert: certPEM(der), key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), serial: serial}
}

// tlsCert is p as a client certificate.
func (p pair) tlsCert(t *testing.T) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(p.cert, p.key)
	if err != nil {
		t.Fatalf("client pair: %v", err)
	}
	return c
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return key
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeFile replaces path's contents in place (same inode), as a rewrite does.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// fixture is a Reloader over files in a temporary directory, with a clock the test moves.
type fixture struct {
	files Files
	clock *fakeClock
	logs  *recorder
	r     *Reloader
}

// newFixture writes p (and ca's bundle when ca is non-nil) and loads them.
func newFixture(t *testing.T, p pair, ca *authority) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{files: Files{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")},
		clock: &fakeClock{}, logs: &recorder{}}
	f.clock.t.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	writeFile(t, f.files.Cert, p.cert)
	writeFile(t, f.files.Key, p.key)
	if ca != nil {
		f.files.CA = filepath.Join(dir, "ca.crt")
		writeFile(t, f.files.CA, ca.pem)
	}
	f.r = newWithClock(t, f.files, f.logs, f.clock)
	return f
}

// newWithClock is New with the test's clock installed before any handshake.
func newWithClock(t *testing.T, files Files, logs *recorder, clock *fakeClock) *Reloader {
	t.Helper()
	r, err := New(files, slog.New(logs))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.now = clock.now
	r.next.Store(clock.now().Add(r.interval).UnixNano())
	return r
}

// write replaces the served pair's files in place.
func (f *fixture) write(t *testing.T, p pair) {
	t.Helper()
	writeFile(t, f.files.Cert, p.cert)
	writeFile(t, f.files.Key, p.key)
}

// fakeClock is a clock the test advances. Safe for concurrent use.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

// serve runs a gRPC server with the health service on 127.0.0.1 using r's configuration,
// until the test ends; it returns the address.
func serve(t *testing.T, r *Reloader) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(r.ServerConfig())))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() { srv.Stop(); <-served })
	return lis.Addr().String()
}

// call opens a new connection to addr trusting roots (presenting client, if non-nil),
// makes one health check and returns the serial of the certificate the server presented.
func call(t *testing.T, addr string, roots *x509.CertPool, client *tls.Certificate) (int64, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	defer conn.Close()
	var p peer.Peer
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
		return 0, err
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		t.Fatalf("peer auth info %v, want TLS with a certificate", p.AuthInfo)
	}
	return info.State.PeerCertificates[0].SerialNumber.Int64(), nil
}

// recorder is a slog.Handler keeping the messages logged at Warn. Safe for concurrent use.
type recorder struct {
	mu    sync.Mutex
	warns []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelWarn {
		return nil
	}
	var msg string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			msg = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warns = append(r.warns, msg)
	return nil
}

func (r *recorder) warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.warns...)
}
