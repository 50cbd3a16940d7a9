package scaler

import (
	"github.com/wakegate/wakegate/internal/tlsreload"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/wakegate/wakegate/internal/activity"
)

// pki is a throwaway CA with a server and a client certificate, written as PEM files.
type pki struct {
	dir                       string
	caFile, certFile, keyFile string
	pool                      *x509.CertPool // trusts the CA
	client                    tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool()}
	ca, caKey := issue(t, issueOptions{cn: "wakegate test CA", isCA: true})
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", ca.Raw)
	srv, srvKey := issue(t, issueOptions{cn: "wakegate", parent: ca, parentKey: caKey, usage: x509.ExtKeyUsageServerAuth})
	p.certFile = p.write(t, "server.pem", "CERTIFICATE", srv.Raw)
	p.keyFile = p.write(t, "server-key.pem", "PRIVATE KEY", marshalKey(t, srvKey))
	cli, cliKey := issue(t, issueOptions{cn: "keda", parent: ca, parentKey: caKey, usage: x509.ExtKeyUsageClientAuth})
	p.client = tls.Certificate{Certificate: [][]byte{cli.Raw}, PrivateKey: cliKey}
	return p
}

type issueOptions struct {
	cn        string
	isCA      bool
	parent    *x509.Certificate
	parentKey *ecdsa.PrivateKey
	usage     x509.ExtKeyUsage
}

func issue(t *testing.T, o issueOptions) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: o.cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if o.isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		o.parent, o.parentKey = tmpl, key
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{o.usage}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, o.parent, &key.PublicKey, o.parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (p *pki) write(t *testing.T, name, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveTLS starts the scaler on 127.0.0.1:0 with files' credentials and returns its address.
func serveTLS(t *testing.T, files tlsreload.Files) string {
	t.Helper()
	r, err := tlsreload.New(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(r.ServerConfig())
	srv, err := New(Options{Counts: activity.New(0), Resolver: newFakeResolver("app")})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(creds))
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-served })
	return lis.Addr().String()
}

// callTLS makes one IsActive call to addr trusting p's CA, presenting certs.
func callTLS(t *testing.T, p *pki, addr string, certs []tls.Certificate) error {
	t.Helper()
	creds := credentials.NewTLS(&tls.Config{RootCAs: p.pool, Certificates: certs, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = pb.NewExternalScalerClient(conn).IsActive(ctxFor(t), ref("app"))
	return err
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name       string
		ca         bool
		clientCert bool
		wantCode   codes.Code
	}{
		{"client cert required and given", true, true, codes.OK},
		{"client cert required, none given", true, false, codes.Unavailable},
		{"no client CA, no client cert", false, false, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := tlsreload.Files{Cert: p.certFile, Key: p.keyFile}
			if tc.ca {
				files.CA = p.caFile
			}
			var certs []tls.Certificate
			if tc.clientCert {
				certs = []tls.Certificate{p.client}
			}
			err := callTLS(t, p, serveTLS(t, files), certs)
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("IsActive over TLS: code %v (%v), want %v", got, err, tc.wantCode)
			}
		})
	}
}
