package kube

// Resolver maps KEDA's ScaledObjectRef (namespace, name) to the target of that
// ScaledObject, "namespace/name", while it is configured. It implements the scaler
// package's Resolver and Notifier. It is safe for concurrent use.
type Resolver struct{ p *Provider }

// Resolver returns the provider's Resolver.
func (p *Provider) Resolver() *Resolver { return &Resolver{p: p} }

// Resolve returns "namespace/name" and true if that ScaledObject is a configured target.
func (r *Resolver) Resolve(namespace, name string) (string, bool) {
	key := namespace + "/" + name
	return key, r.p.lookup(key) != nil
}

// Changed returns a channel closed (never sent on) when the target set next changes.
func (r *Resolver) Changed() <-chan struct{} { return *r.p.setCh.Load() }
