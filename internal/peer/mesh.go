package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Defaults of MeshOptions.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// MeshOptions configure a Mesh. ReplicaID and View are required.
type MeshOptions struct {
	ReplicaID string // this replica's id: a peer answering with it is this replica, skipped
	View      *View  // where reports go
	// Peers are the initial peer addresses (host:port), this replica's own included or
	// not. Each must reach exactly one replica: a pod IP or pod DNS name, not a Service
	// name that balances over several.
	Peers []string
	// Creds secure the connections to peers; nil means plaintext.
	Creds       credentials.TransportCredentials
	DialOptions []grpc.DialOption // appended after the credentials
	MinBackoff  time.Duration     // first wait before resubscribing; DefaultMinBackoff if 0
	MaxBackoff  time.Duration     // longest wait; DefaultMaxBackoff if 0
	Logger      *slog.Logger      // nil: discard
}

// Mesh subscribes to every peer in its list and feeds their reports into a View. Each
// peer is followed by one goroutine that resubscribes with exponential back-off after
// any error or end of stream, and cancels a stream silent for longer than the View's
// staleness bound. A peer is known by the replica id in its reports, never its address:
// an address that turns out to be this replica is left alone until removed, and of two
// addresses reaching the same replica only one stream at a time feeds the View (the other
// retries at the longest back-off, taking over once the first stream ends).
//
// A Mesh is safe for concurrent use. Its goroutines run while Run runs.
type Mesh struct {
	opts  MeshOptions
	dial  []grpc.DialOption
	ended func(addr string, err error) // test hook: a subscription ended

	mu      sync.Mutex
	want    map[string]bool               // the peer list
	subs    map[string]context.CancelFunc // running followers, by address
	owners  map[string]string             // replica id → the address whose stream takes its reports
	ctx     context.Context               // Run's context; nil when not running
	started bool
	wg      sync.WaitGroup
}

// NewMesh returns a Mesh over opts; the error names the offending option or address.
func NewMesh(opts MeshOptions) (*Mesh, error) {
	if opts.ReplicaID == "" || opts.View == nil {
		return nil, errors.New("peer: MeshOptions.ReplicaID and View are required")
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MinBackoff < 0 || opts.MaxBackoff < opts.MinBackoff {
		return nil, fmt.Errorf("peer: MeshOptions back-off %s..%s: need 0 < MinBackoff <= MaxBackoff", opts.MinBackoff, opts.MaxBackoff)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	creds := opts.Creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	m := &Mesh{opts: opts, dial: append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, opts.DialOptions...),
		subs: map[string]context.CancelFunc{}, owners: map[string]string{}}
	if err := m.SetPeers(opts.Peers); err != nil {
		return nil, err
	}
	return m, nil
}

// SetPeers replaces the peer list (host:port addresses; duplicates are merged). Peers
// that left it are unsubscribed at once: their counts stay in the View until stale.
// New ones are subscribed to (while Run runs). On error (the address named), nothing
// changes. Safe for concurrent use; Kubernetes discovery calls it at every change.
func (m *Mesh) SetPeers(addrs []string) error {
	want := make(map[string]bool, len(addrs))
	for i, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("peer address %d %q: want host:port", i, a)
		}
		want[a] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.want = want
	m.syncLocked()
	return nil
}

// syncLocked starts a follower for every wanted address without one and cancels those
// no longer wanted; it does nothing while Run is not running.
func (m *Mesh) syncLocked() {
	if m.ctx == nil {
		return
	}
	for addr, cancel := range m.subs {
		if !m.want[addr] {
			cancel()
			delete(m.subs, addr)
		}
	}
	for addr := range m.want {
		if m.subs[addr] == nil {
			ctx, cancel := context.WithCancel(m.ctx)
			m.subs[addr] = cancel
			m.wg.Add(1)
			go m.follow(ctx, addr)
		}
	}
}

// claim makes addr's stream the one that takes id's reports; false if another address's
// open stream already does (two addresses reaching one replica).
func (m *Mesh) claim(id, addr string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if owner, ok := m.owners[id]; ok && owner != addr {
		return false
	}
	m.owners[id] = addr
	return true
}

// release ends addr's claim on id, if it holds it.
func (m *Mesh) release(id, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owners[id] == addr {
		delete(m.owners, id)
	}
}

// Run follows the peers until ctx is cancelled, then stops every follower and returns
// nil; or returns an error at once if called more than once.
func (m *Mesh) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("peer: Mesh.Run called twice")
	}
	m.started, m.ctx = true, ctx
	m.syncLocked()
	m.mu.Unlock()

	<-ctx.Done()
	m.mu.Lock()
	for addr, cancel := range m.subs {
		cancel()
		delete(m.subs, addr)
	}
	m.ctx = nil
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}
