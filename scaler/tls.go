package scaler

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
)

// TLSFiles name the PEM files the scaler's gRPC port serves TLS with. They match KEDA's
// trigger settings: KEDA trusts Cert through its caCert and, when CA is set here, must
// present tlsClientCert/tlsClientKey.
type TLSFiles struct {
	Cert string // server certificate (chain), required
	Key  string // the certificate's private key, required
	CA   string // optional: if set, clients must present a certificate this CA bundle verifies
}

// ServerCredentials loads f once and returns gRPC server credentials (TLS 1.2 or later).
// Errors name the file at fault. Files are not re-read; restart to pick up new ones.
func ServerCredentials(f TLSFiles) (credentials.TransportCredentials, error) {
	cfg, err := serverTLSConfig(f)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

func serverTLSConfig(f TLSFiles) (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("scaler TLS: both a cert file and a key file are required (cert %q, key %q)", f.Cert, f.Key)
	}
	certPEM, err := os.ReadFile(f.Cert)
	if err != nil {
		return nil, fmt.Errorf("scaler TLS: cert file: %w", err)
	}
	keyPEM, err := os.ReadFile(f.Key)
	if err != nil {
		return nil, fmt.Errorf("scaler TLS: key file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("scaler TLS: cert file %q with key file %q: %w", f.Cert, f.Key, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if f.CA == "" {
		return cfg, nil
	}
	pool, err := loadCA(f.CA)
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return cfg, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	caPEM, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scaler TLS: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("scaler TLS: CA file %q: no PEM certificate found", path)
	}
	return pool, nil
}
