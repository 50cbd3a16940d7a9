package kube

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// serviceCIDR is the cluster's Service IP range; serviceIP is its first address, the in-cluster
// "kubernetes" Service, which the apiserver's serving certificate must name.
const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
)

// pki holds the paths of the throwaway certificates and keys of one cluster, all PEM files in
// one directory. It is written once by newPKI and read-only afterwards.
type pki struct {
	dir      string
	caCert   string
	caKey    string
	saKey    string // RSA private key that signs service-account tokens
	saPub    string // its public key, which the apiserver verifies tokens with
	ca       *x509.Certificate
	caSigner crypto.Signer
}

// certRequest describes one leaf certificate that the cluster CA signs.
type certRequest struct {
	name   string // file stem: <name>.crt, <name>.key
	cn     string
	orgs   []string
	usage  []x509.ExtKeyUsage
	ips    []net.IP
	dnsSAN []string
}

// newPKI writes a fresh CA and service-account key pair into dir. Keys are ECDSA P-256 (fast to
// generate) except the service-account key, which is RSA as Kubernetes expects by default.
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	p := &pki{
		dir: dir, caCert: filepath.Join(dir, "ca.crt"), caKey: filepath.Join(dir, "ca.key"),
		saKey: filepath.Join(dir, "sa.key"), saPub: filepath.Join(dir, "sa.pub"),
	}
	if err := p.writeCA(); err != nil {
		return nil, err
	}
	if err := p.writeServiceAccountKeys(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pki) writeCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	tmpl, err := certTemplate("wakegate-test-ca", nil)
	if err != nil {
		return err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("self-sign CA: %w", err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("parse CA: %w", err)
	}
	p.caSigner = key
	if err := writePEM(p.caCert, "CERTIFICATE", der); err != nil {
		return err
	}
	return writeKey(p.caKey, key)
}

func (p *pki) writeServiceAccountKeys() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("marshal service-account public key: %w", err)
	}
	if err := writePEM(p.saPub, "PUBLIC KEY", pub); err != nil {
		return err
	}
	return writeKey(p.saKey, key)
}

// issue writes <name>.crt and <name>.key signed by the CA and returns their paths.
func (p *pki) issue(req certRequest) (certPath, keyPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate key for %s: %w", req.name, err)
	}
	tmpl, err := certTemplate(req.cn, req.orgs)
	if err != nil {
		return "", "", err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	tmpl.ExtKeyUsage = req.usage
	tmpl.IPAddresses = req.ips
	tmpl.DNSNames = req.dnsSAN
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caSigner)
	if err != nil {
		return "", "", fmt.Errorf("sign certificate %s: %w", req.name, err)
	}
	certPath = filepath.Join(p.dir, req.name+".crt")
	keyPath = filepath.Join(p.dir, req.name+".key")
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	return certPath, keyPath, writeKey(keyPath, key)
}

// servingRequest is the certificate of a loopback server, valid for 127.0.0.1 and localhost plus
// the extra DNS names given.
func servingRequest(name string, dnsNames ...string) certRequest {
	return certRequest{
		name: name, cn: name, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		ips: []net.IP{net.IPv4(127, 0, 0, 1)}, dnsSAN: append([]string{"localhost"}, dnsNames...),
	}
}

// apiServerRequest is the apiserver's serving certificate: loopback plus the in-cluster names.
func apiServerRequest() certRequest {
	r := servingRequest("kube-apiserver", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local")
	r.ips = append(r.ips, net.ParseIP(serviceIP))
	return r
}

// clientRequest is a client certificate; Kubernetes reads the user from CN and groups from O.
func clientRequest(name, user string, groups ...string) certRequest {
	return certRequest{name: name, cn: user, orgs: groups, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

// certTemplate returns a template valid from an hour ago for a week, with a random serial.
func certTemplate(cn string, orgs []string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
	}, nil
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key %s: %w", path, err)
	}
	return writePEM(path, "PRIVATE KEY", der)
}

func writePEM(path, blockType string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
