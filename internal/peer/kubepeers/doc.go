// Package kubepeers finds the other wakegate replicas in Kubernetes and hands their peer
// addresses to the mesh (peer.Mesh.SetPeers), so the core peer package stays free of
// Kubernetes types.
//
// The replicas are the endpoints of wakegate's own headless Service (deploy/ ships
// wakegate-peers: clusterIP None, port grpc-peer 9091). A Discovery watches that Service's
// EndpointSlices — one informer on the kubernetes.io/service-name label in wakegate's own
// namespace, no DNS polling — and after the first listing, and at every change, pushes
// the sorted list of ip:port of
//
//   - every ready endpoint (a ready condition that is unset counts as ready), and
//   - every terminating endpoint, ready or not: a replica that is shutting down still
//     answers its peers until it says goodbye (peer.Server.Drain), and its goodbye takes
//     its counts out of the other replicas' views at once; dropping its address at the
//     first sign of termination would leave its counts there until the staleness bound.
//
// The port is the slice's port named Options.PortName (grpc-peer), else Options.Port (the
// port of --peer-addr). Only an endpoint's first address is used: the API defines them as
// fungible. This replica's own endpoint (targetRef naming the pod Options.Self) is left
// out; should it slip through anyway (another replica id than the pod name), the mesh
// recognises it by the replica id in its reports and leaves it alone.
//
// RBAC: get, list and watch on discovery.k8s.io endpointslices in wakegate's namespace
// (deploy/base's ClusterRole grants it cluster-wide for the Kubernetes provider already).
package kubepeers
