// Package kube is wakegate's Kubernetes provider: its targets are KEDA ScaledObjects, its
// readiness comes from the EndpointSlices of their Services, and it can lift a workload
// from zero itself (DirectWake).
//
// A ScaledObject is a target when one of its triggers has type external-push and routing
// keys in its metadata (see ParseRouting):
//
//	triggers:
//	- type: external-push
//	  metadata:
//	    scalerAddress: wakegate.wakegate.svc:9090
//	    hosts: app.example.com,*.app.example.com
//	    pathPrefixes: /            # optional
//	    headers: x-tenant=blue     # optional
//	    service: app               # the Service Envoy routes to, same namespace
//	    port: http                 # optional: a Service port name or EndpointSlice port number
//	    holdTimeout: 60s           # optional
//	    maxHeld: "1000"            # optional
//	    waitingPage: onTimeout     # optional: onTimeout, immediate or off
//
// The target's name is "namespace/name" of the ScaledObject, which is also what the
// Resolver maps KEDA's ScaledObjectRef to. A ScaledObject with bad metadata, or whose
// routes an older ScaledObject already claims, is left out with a Warning Event; the other
// targets keep working.
//
// A target is ready when an EndpointSlice of its Service has the port (if one is named)
// and an endpoint whose ready condition is not false. Readiness is pushed from informer
// events, never polled; see Options.ReleaseProbe for the guard before a release.
//
// RBAC the provider needs (for deploy/):
//
//	rules:
//	  - apiGroups: [keda.sh]
//	    resources: [scaledobjects]
//	    verbs: [get, list, watch]
//	  - apiGroups: [discovery.k8s.io]
//	    resources: [endpointslices]
//	    verbs: [get, list, watch]
//	  - apiGroups: [""]
//	    resources: [events]
//	    verbs: [create, patch]
//	  # only with DirectWake:
//	  - apiGroups: [apps]
//	    resources: [deployments/scale, statefulsets/scale]
//	    verbs: [get, update]
//
// Namespaced Roles suffice when Options.Namespaces lists the namespaces; otherwise a
// ClusterRole is needed.
package kube
