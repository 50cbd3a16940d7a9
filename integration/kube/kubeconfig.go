package kube

import (
	"fmt"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// identity is one client of the apiserver: the certificate it authenticates with and the
// kubeconfig file handed to it.
type identity struct {
	cert       string
	key        string
	kubeconfig string
}

// newIdentity issues a client certificate for user (in groups) and writes a kubeconfig for it,
// pointing at server, to <dir>/<name>.kubeconfig.
func newIdentity(p *pki, dir, server, name, user string, groups ...string) (identity, error) {
	cert, key, err := p.issue(clientRequest(name, user, groups...))
	if err != nil {
		return identity{}, err
	}
	id := identity{cert: cert, key: key, kubeconfig: filepath.Join(dir, name+".kubeconfig")}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["wakegate-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: p.caCert}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: cert, ClientKey: key}
	cfg.Contexts["wakegate-test"] = &clientcmdapi.Context{Cluster: "wakegate-test", AuthInfo: name}
	cfg.CurrentContext = "wakegate-test"
	if err := clientcmd.WriteToFile(*cfg, id.kubeconfig); err != nil {
		return identity{}, fmt.Errorf("write kubeconfig for %s: %w", name, err)
	}
	return id, nil
}

// restConfig returns a client configuration for id; QPS and Burst are raised so that tests are
// not slowed by client-side throttling.
func (id identity) restConfig(server, caFile string) *rest.Config {
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: caFile, CertFile: id.cert, KeyFile: id.key,
		},
		QPS:   200,
		Burst: 400,
	}
}
