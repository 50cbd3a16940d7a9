// Package peer lets wakegate replicas share their activity counts, so that whichever
// replica KEDA's external scaler talks to reports the traffic of all of them, and a
// request held on one replica wakes the scaler's stream on another within milliseconds.
//
// Envoy spreads requests over the replicas; each counts its own in an activity.Tracker.
// Three pieces join them:
//
//   - Server serves the peer protocol (wakegate.peer.v1.PeerService) over the local
//     Tracker: a subscriber gets a full Report at once, another at each local edge
//     (coalesced while edges burst) and a heartbeat at least every Heartbeat.
//   - Mesh subscribes to every peer address (a static list, or Kubernetes discovery via
//     SetPeers) and feeds the reports into the View. A replica recognises itself, and
//     two addresses of one replica, by the replica id in the reports.
//   - View merges the local Tracker with the peers' last reports. It implements the
//     scaler's Counts (Stats, Rate, Watch), so the scaler reads it unchanged.
//
// Counts only ever travel one hop (a replica reports its own, never what it heard), so
// each receiver sums every replica exactly once.
//
// Losing a peer never zeroes its counts while its traffic may go on: a silent peer's last
// in-flight, held and rate figures stay in the View until the staleness bound passes
// (ViewOptions.Staleness, at least three of its heartbeats), then it is dropped, logged
// and counted (wakegate_peer_dropped_total{reason="stale"}). A replica that shuts down
// cleanly says goodbye (Server.Drain): a final report, after which receivers drop it at
// once if it holds nothing.
//
// Waking a target is not coordinated here. Replicas holding requests for the same sleeping
// target each ask their provider: through KEDA, the scaler's pushed "active" is one signal
// however many replicas send it; with direct wake, the Kubernetes provider lifts the scale
// subresource from 0 to 1 by an update conditional on the resourceVersion it read, so a
// second replica's update conflicts and is taken as done.
package peer
