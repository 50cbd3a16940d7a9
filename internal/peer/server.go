package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/wakegate/wakegate/internal/activity"
	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

// Defaults of ServerOptions.
const (
	DefaultHeartbeat = time.Second          // longest gap between two reports on a stream
	DefaultCoalesce  = 5 * time.Millisecond // shortest gap between two reports while edges fire
)

// Edges tells a Server when a local target changed state. *View implements it.
type Edges interface {
	// LocalChanged returns a channel closed at the next edge of any local target.
	LocalChanged() <-chan struct{}
}

var _ Edges = (*View)(nil)

// ServerOptions configure a Server. ReplicaID, Tracker and Edges are required.
type ServerOptions struct {
	ReplicaID string            // this replica's id, sent in every report
	Tracker   *activity.Tracker // this replica's own counts: the only ones reported
	Edges     Edges             // wakes streams at local edges (the View over Tracker)
	Heartbeat time.Duration     // DefaultHeartbeat if 0
	Coalesce  time.Duration     // DefaultCoalesce if 0; must be below Heartbeat
	Logger    *slog.Logger      // nil: discard
	Metrics   *Metrics          // nil: none
}

// Server serves PeerService over the local Tracker: each Subscribe stream gets a full
// report at once, then one at each local edge (at most one per Coalesce, the first one
// undelayed) and at least one per Heartbeat. Reports hold only the targets with any
// counts. It is safe for concurrent use and owns no goroutines: each stream runs on the
// goroutine gRPC gives its handler, until the subscriber goes away or Drain.
type Server struct {
	peerv1.UnimplementedPeerServiceServer

	opts    ServerOptions
	started time.Time // when this process's counters started, sent as Report.started

	drainOnce sync.Once
	drained   chan struct{} // closed by Drain
}

var _ peerv1.PeerServiceServer = (*Server)(nil)

// NewServer returns a Server; the error names the offending option.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.ReplicaID == "" || opts.Tracker == nil || opts.Edges == nil {
		return nil, errors.New("peer: ServerOptions.ReplicaID, Tracker and Edges are required")
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Coalesce == 0 {
		opts.Coalesce = DefaultCoalesce
	}
	if opts.Heartbeat < 0 {
		return nil, fmt.Errorf("peer: ServerOptions.Heartbeat %s: must be positive", opts.Heartbeat)
	}
	if opts.Coalesce < 0 || opts.Coalesce >= opts.Heartbeat {
		return nil, fmt.Errorf("peer: ServerOptions.Coalesce %s: must be positive and below Heartbeat %s", opts.Coalesce, opts.Heartbeat)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, started: time.Now(), drained: make(chan struct{})}, nil
}

// Register registers the peer service on gs, before it serves.
func (s *Server) Register(gs grpc.ServiceRegistrar) { peerv1.RegisterPeerServiceServer(gs, s) }

// Drain says goodbye: every open stream, and any opened later, sends one last report
// with final set and ends with status OK, so subscribers drop this replica's counts at
// once instead of keeping them until stale. Call it when this replica has stopped taking
// requests and answered the ones it held (after the gate's drain, ideally after the
// Envoy-facing server stopped), just before stopping the peer gRPC server. Safe to call
// more than once, from any goroutine.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.drained) }) }

// Subscribe implements PeerService.Subscribe. It returns nil when the subscriber goes
// away or after the final report, InvalidArgument for a request without replica_id, and
// the stream's error if a send fails.
func (s *Server) Subscribe(req *peerv1.SubscribeRequest, stream grpc.ServerStreamingServer[peerv1.SubscribeResponse]) error {
	if req.GetReplicaId() == "" {
		return status.Error(codes.InvalidArgument, "peer: SubscribeRequest.replica_id is empty")
	}
	ctx := stream.Context()
	s.opts.Logger.DebugContext(ctx, "peer: subscriber joined", "subscriber", req.GetReplicaId())
	heartbeat := time.NewTimer(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for seq := uint64(1); ; seq++ {
		changed := s.opts.Edges.LocalChanged() // taken before the snapshot: no edge slips between
		final := isClosed(s.drained)
		if err := stream.Send(&peerv1.SubscribeResponse{Report: s.report(seq, final)}); err != nil {
			return err
		}
		s.opts.Metrics.sentReport()
		if final {
			return nil
		}
		sent := time.Now()
		heartbeat.Reset(s.opts.Heartbeat)
		if !s.wait(ctx, changed, heartbeat.C, sent) {
			s.opts.Logger.DebugContext(ctx, "peer: subscriber left", "subscriber", req.GetReplicaId())
			return nil
		}
	}
}

// wait blocks until the next report is due (true) or the subscriber went away (false).
// After an edge it lets Coalesce pass since the last report, so a burst of edges makes
// one report, while an edge after a quiet spell is reported at once.
func (s *Server) wait(ctx context.Context, changed <-chan struct{}, heartbeat <-chan time.Time, sent time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-s.drained:
		return true
	case <-heartbeat:
		return true
	case <-changed:
	}
	d := s.opts.Coalesce - time.Since(sent)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.drained:
	case <-t.C:
	}
	return true
}

// report snapshots the local counts of every target with any.
func (s *Server) report(seq uint64, final bool) *peerv1.Report {
	names := s.opts.Tracker.Targets()
	targets := make([]*peerv1.TargetActivity, 0, len(names))
	for _, name := range names {
		st, ok := s.opts.Tracker.Stats(name)
		if !ok || (st.RequestsTotal == 0 && !st.Busy()) {
			continue
		}
		ta := &peerv1.TargetActivity{Target: name, RequestsTotal: st.RequestsTotal,
			InFlight: uint64(max(st.InFlight, 0)), Held: uint64(max(st.Held, 0))}
		if !st.LastSeen.IsZero() {
			ta.LastSeen = timestamppb.New(st.LastSeen)
		}
		targets = append(targets, ta)
	}
	return &peerv1.Report{
		ReplicaId: s.opts.ReplicaID, Seq: seq, Targets: targets, Final: final,
		Sent:              timestamppb.Now(), // after the snapshot: last_seen is never after sent
		HeartbeatInterval: durationpb.New(s.opts.Heartbeat),
		Started:           timestamppb.New(s.started),
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
