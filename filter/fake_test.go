package filter

import (
	"context"
	"net"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/wakegate/wakegate/internal/gate"
)

// fakeChecker is a Checker whose decisions the test controls through decide. It records
// every request and every Finish. Safe for concurrent use.
type fakeChecker struct {
	decide func(ctx context.Context, req gate.Request) gate.Decision

	mu       sync.Mutex
	requests []gate.Request
	finished []gate.Decision
}

var _ Checker = (*fakeChecker)(nil)

func (f *fakeChecker) Check(ctx context.Context, req gate.Request) gate.Decision {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	return f.decide(ctx, req)
}

func (f *fakeChecker) Finish(d gate.Decision) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = append(f.finished, d)
}

func (f *fakeChecker) snapshot() (reqs []gate.Request, finished []gate.Decision) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]gate.Request(nil), f.requests...), append([]gate.Decision(nil), f.finished...)
}

// decideAlways returns a decide func that answers d.
func decideAlways(d gate.Decision) func(context.Context, gate.Request) gate.Decision {
	return func(context.Context, gate.Request) gate.Decision { return d }
}

// harness is an ExtProc served over bufconn, with the real generated client.
type harness struct {
	client  extprocv3.ExternalProcessorClient
	ended   chan error // one value per Process call that returned
	recvErr chan error // one value per server-side Recv that failed (io.EOF included)
}

// startExtProc serves NewExtProc(opts) until the test ends.
func startExtProc(t *testing.T, opts ExtProcOptions) *harness {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	h := &harness{ended: make(chan error, 64), recvErr: make(chan error, 64)}
	srv := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, &recordingStream{ServerStream: ss, recvErr: h.recvErr})
		h.ended <- err
		return err
	}))
	extprocv3.RegisterExternalProcessorServer(srv, NewExtProc(opts))
	h.client = extprocv3.NewExternalProcessorClient(serveBufconn(t, srv, lis))
	return h
}

// serveBufconn serves srv on lis and returns a client connection to it; both are stopped
// when the test ends.
func serveBufconn(t *testing.T, srv *grpc.Server, lis *bufconn.Listener) *grpc.ClientConn {
	t.Helper()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		<-served
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

// recordingStream reports the first failed RecvMsg, so tests can wait until the server
// has seen the client's half-close.
type recordingStream struct {
	grpc.ServerStream
	recvErr chan<- error
	once    sync.Once
}

func (s *recordingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err != nil {
		s.once.Do(func() { s.recvErr <- err })
	}
	return err
}

// waitEnded waits for one Process call to return and gives its error.
func (h *harness) waitEnded(t *testing.T) error {
	t.Helper()
	return <-h.ended
}

// hdrs builds a HeaderMap from name/value pairs, values in raw_value as Envoy 1.40 sends.
func hdrs(kv ...string) *corev3.HeaderMap {
	m := &corev3.HeaderMap{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Headers = append(m.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return m
}

func reqHeaders(kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: hdrs(kv...), EndOfStream: true},
	}}
}

func respHeaders() *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: &extprocv3.HttpHeaders{Headers: hdrs(":status", "200")},
	}}
}
