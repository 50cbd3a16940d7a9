package scaler

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/wakegate/wakegate/internal/activity"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait in these tests; nothing should take more than a blink.
const waitFor = 10 * time.Second

// fakeResolver is a Resolver and Notifier over a mutable map from ref names to targets.
type fakeResolver struct {
	mu      sync.Mutex
	targets map[string]string
	changed chan struct{}
}

var (
	_ Resolver = (*fakeResolver)(nil)
	_ Notifier = (*fakeResolver)(nil)
)

// newFakeResolver resolves each of names to the target of the same name.
func newFakeResolver(names ...string) *fakeResolver {
	r := &fakeResolver{targets: map[string]string{}, changed: make(chan struct{})}
	for _, n := range names {
		r.targets[n] = n
	}
	return r
}

func (r *fakeResolver) Resolve(_, name string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[name]
	return t, ok
}

func (r *fakeResolver) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// add maps the ref name to target and wakes whoever waits on Changed.
func (r *fakeResolver) add(name, target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets[name] = target
	close(r.changed)
	r.changed = make(chan struct{})
}

// watchSpy is the real tracker, reporting each Watch call (after it returns its state) on
// watches without ever blocking.
type watchSpy struct {
	*activity.Tracker
	watches chan string
}

func (w watchSpy) Watch(target string) (activity.Stats, <-chan struct{}) {
	st, ch := w.Tracker.Watch(target)
	select {
	case w.watches <- target:
	default:
	}
	return st, ch
}

// harness is a Server behind a real gRPC server on an in-memory listener, with KEDA's
// generated client connected to it.
type harness struct {
	tr         *activity.Tracker
	srv        *Server
	client     pb.ExternalScalerClient
	health     healthgrpc.HealthClient
	streamDone chan error  // what each stream handler returned, in order
	watches    chan string // targets streams watched, in order
	stop       func()      // closes client and server; idempotent
}

type harnessOptions struct {
	resolver Resolver // default: fakeResolver over targets
	targets  []string
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	tr := activity.New(0)
	if o.resolver == nil {
		o.resolver = newFakeResolver(o.targets...)
	}
	spy := watchSpy{Tracker: tr, watches: make(chan string, 1024)}
	srv, err := New(Options{Counts: spy, Resolver: o.resolver})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{tr: tr, srv: srv, streamDone: make(chan error, 64), watches: spy.watches}
	gs := grpc.NewServer(grpc.StreamInterceptor(h.recordStream))
	srv.Register(gs)
	lis := bufconn.Listen(1 << 20)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	h.stop = func() { once.Do(func() { _ = conn.Close(); gs.Stop(); <-served }) }
	t.Cleanup(h.stop)
	h.client, h.health = pb.NewExternalScalerClient(conn), healthgrpc.NewHealthClient(conn)
	return h
}

// recordStream reports what each stream handler returned on streamDone, never blocking.
func (h *harness) recordStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := handler(srv, ss)
	select {
	case h.streamDone <- err:
	default:
	}
	return err
}

// handlerReturned waits for the next stream handler to return and gives its error.
func (h *harness) handlerReturned(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.streamDone:
		return err
	case <-time.After(waitFor):
		t.Fatal("stream handler did not return")
		return nil
	}
}

// drainWatches forgets the Watch calls reported so far.
func (h *harness) drainWatches() {
	for {
		select {
		case <-h.watches:
		default:
			return
		}
	}
}

// watched waits for a stream to call Watch again.
func (h *harness) watched(t *testing.T) {
	t.Helper()
	select {
	case <-h.watches:
	case <-time.After(waitFor):
		t.Fatal("no stream watched the tracker again")
	}
}

// ref is a ScaledObjectRef for target with metadata given as key, value pairs.
func ref(target string, kv ...string) *pb.ScaledObjectRef {
	md := map[string]string{"scalerAddress": "wakegate.wakegate.svc:9090"} // as KEDA sends it
	for i := 0; i+1 < len(kv); i += 2 {
		md[kv[i]] = kv[i+1]
	}
	return &pb.ScaledObjectRef{Name: target, Namespace: "default", ScalerMetadata: md}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// openStream opens StreamIsActive; cancel closes it from the client side.
func (h *harness) openStream(t *testing.T, r *pb.ScaledObjectRef) (grpc.ServerStreamingClient[pb.IsActiveResponse], context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	t.Cleanup(cancel)
	st, err := h.client.StreamIsActive(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return st, cancel
}

// recv receives one value from a stream, failing the test on error.
func recv(t *testing.T, st grpc.ServerStreamingClient[pb.IsActiveResponse]) bool {
	t.Helper()
	m, err := st.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return m.GetResult()
}

// waitPast returns once more than d has passed since from. It waits for the clock, not for
// the code under test: the condition holds before anything is asserted.
func waitPast(t *testing.T, from time.Time, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Since(from) <= d {
		if time.Now().After(deadline) {
			t.Fatalf("clock did not pass %v after %v", d, from)
		}
		time.Sleep(time.Until(from.Add(d)) + time.Microsecond)
	}
}
