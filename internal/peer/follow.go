package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"

	peerv1 "github.com/wakegate/wakegate/proto/wakegate/peer/v1"
)

var (
	// errSelf ends a subscription that reached this very replica.
	errSelf = errors.New("the address reaches this replica")
	// errSilent ends a subscription that brought no report for too long.
	errSilent = errors.New("no report within the staleness bound")
	// errGoodbye ends a subscription cleanly after the peer's final report.
	errGoodbye = errors.New("the peer said goodbye")
	// errDuplicate ends a subscription to a replica another address's stream follows.
	errDuplicate = errors.New("another address's stream follows the same replica")
)

// follow subscribes to the peer at addr until ctx is cancelled, resubscribing with
// exponential back-off (reset by any report taken) after each end of stream.
func (m *Mesh) follow(ctx context.Context, addr string) {
	defer m.wg.Done()
	log := m.opts.Logger.With("addr", addr)
	conn, err := grpc.NewClient(addr, m.dial...)
	if err != nil { // only for an unparsable target; SetPeers checked the form
		log.Error("peer: cannot dial peer", "err", err)
		return
	}
	defer conn.Close()
	client := peerv1.NewPeerServiceClient(conn)
	wait, failing := m.opts.MinBackoff, false
	for {
		took, err := m.subscribe(ctx, client, addr)
		if m.ended != nil {
			m.ended(addr, err)
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errSelf):
			log.Debug("peer: skipping this replica's own address")
			return
		case errors.Is(err, errGoodbye), errors.Is(err, errDuplicate):
			// Shutting down, or followed through another address: try again later.
			log.Debug("peer: subscription ended; retrying later", "reason", err)
			wait, err = m.opts.MaxBackoff, nil
		case took:
			wait, failing = m.opts.MinBackoff, false
		}
		if err != nil && !failing {
			log.Warn("peer: subscription to peer failed; retrying", "err", err)
			failing = true
		} else if err != nil {
			log.Debug("peer: subscription to peer failed again", "err", err)
		}
		if !sleep(ctx, jitter(wait)) {
			return
		}
		wait = min(2*wait, m.opts.MaxBackoff)
	}
}

// subscribe runs one subscription until it ends; took reports whether any report was
// taken into the View. The end after a final report returns errGoodbye; another clean
// end returns nil.
func (m *Mesh) subscribe(ctx context.Context, client peerv1.PeerServiceClient, addr string) (took bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stream, err := client.Subscribe(ctx, &peerv1.SubscribeRequest{ReplicaId: m.opts.ReplicaID})
	if err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	watchdog := time.AfterFunc(m.opts.View.staleAfter(DefaultHeartbeat), func() { cancel(errSilent) })
	defer watchdog.Stop()
	f := &followed{addr: addr}
	defer m.unfollow(f)
	for {
		resp, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF) && f.final:
			return took, errGoodbye
		case errors.Is(err, io.EOF):
			return took, nil
		case err != nil && errors.Is(context.Cause(ctx), errSilent):
			return took, fmt.Errorf("receive: %w", errSilent)
		case err != nil:
			return took, fmt.Errorf("receive: %w", err)
		}
		rep := resp.GetReport()
		if skip, err := m.check(f, rep); skip || err != nil {
			if err != nil {
				return took, err
			}
			continue
		}
		if err := m.opts.View.ingest(addr, rep, time.Now()); err != nil {
			return took, err
		}
		f.seq, f.final, took = rep.GetSeq(), rep.GetFinal(), true
		watchdog.Reset(m.opts.View.staleAfter(heartbeatOf(rep)))
	}
}

// followed is what one subscription remembers. Owned by its subscribe call.
type followed struct {
	addr  string
	id    string // the replica id of its first report; "" until then
	seq   uint64 // of the last report taken
	final bool   // the last report taken was final
}

// check decides what to do with rep on f's stream: skip it (not newer than the last one
// taken), end the stream (an error), or take it. The first report claims its replica id
// for f's address.
func (m *Mesh) check(f *followed, rep *peerv1.Report) (skip bool, err error) {
	id := rep.GetReplicaId()
	switch {
	case id == "":
		return false, errors.New("report: replica_id is empty")
	case id == m.opts.ReplicaID:
		return false, errSelf
	case f.id != "" && id != f.id:
		return false, fmt.Errorf("report: replica_id changed from %q to %q on one stream", f.id, id)
	case rep.GetSeq() <= f.seq:
		return true, nil
	case f.id == "" && !m.claim(id, f.addr):
		return false, errDuplicate
	}
	f.id = id
	return false, nil
}

// unfollow releases f's claim on its replica id.
func (m *Mesh) unfollow(f *followed) {
	if f.id != "" {
		m.release(f.id, f.addr)
	}
}

// jitter spreads d over [d/2, d), so replicas restarted together do not retry in step.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half)
}

// sleep waits d, or returns false if ctx is cancelled first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
