package tlsreload

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// contents are the bytes of the files at one check.
type contents struct{ cert, key, ca []byte }

func (c contents) equal(o contents) bool {
	return bytes.Equal(c.cert, o.cert) && bytes.Equal(c.key, o.key) && bytes.Equal(c.ca, o.ca)
}

// read reads the files (following symlinks). Errors name the file.
func (f Files) read() (contents, error) {
	var c contents
	var err error
	if c.cert, err = os.ReadFile(f.Cert); err != nil {
		return c, fmt.Errorf("tlsreload: cert file: %w", err)
	}
	if c.key, err = os.ReadFile(f.Key); err != nil {
		return c, fmt.Errorf("tlsreload: key file: %w", err)
	}
	if f.CA != "" {
		if c.ca, err = os.ReadFile(f.CA); err != nil {
			return c, fmt.Errorf("tlsreload: CA file: %w", err)
		}
	}
	return c, nil
}

// parse builds the per-handshake configuration from c. Errors name the file at fault.
func (f Files) parse(c contents) (*tls.Config, error) {
	if err := complete(c.cert); err != nil {
		return nil, fmt.Errorf("tlsreload: cert file %q: %w", f.Cert, err)
	}
	if err := complete(c.key); err != nil {
		return nil, fmt.Errorf("tlsreload: key file %q: %w", f.Key, err)
	}
	pair, err := tls.X509KeyPair(c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: cert file %q with key file %q: %w", f.Cert, f.Key, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if f.CA == "" {
		return cfg, nil
	}
	pool, err := parseCA(c.ca)
	if err != nil {
		return nil, fmt.Errorf("tlsreload: CA file %q: %w", f.CA, err)
	}
	cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return cfg, nil
}

// errTruncated reports a PEM block that does not decode: usually a file caught while it
// was being written.
var errTruncated = errors.New("a PEM block does not decode (file truncated or being written?)")

// complete checks that every PEM block in data decodes. tls.X509KeyPair skips blocks that
// do not, so a half-written chain would otherwise load without its intermediates.
func complete(data []byte) error {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return errTruncated
	}
	return nil
}

// parseCA parses a bundle of PEM CA certificates; blocks of other types are ignored, but
// every certificate must parse and there must be at least one.
func parseCA(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return nil, errTruncated
	}
	if n == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return pool, nil
}
