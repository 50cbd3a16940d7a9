package integration

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
)

// probe is an ext_proc server whose answer to request headers each test scripts, and which
// records when each stream ends. It lets the tests observe Envoy itself, without wakegate.
type probe struct {
	extprocv3.UnimplementedExternalProcessorServer
	addr string
	// onHeaders answers one request-headers message; it may block (hold) and send several
	// responses. It must return when ctx ends.
	onHeaders func(ctx context.Context, send func(*extprocv3.ProcessingResponse) error) error

	mu     sync.Mutex
	open   int
	ends   []streamEnd
	change chan struct{} // closed and replaced on every stream start or end
}

// streamEnd is how an ext_proc stream ended: Envoy half-closed it (eof) or reset it.
type streamEnd struct {
	at  time.Time
	eof bool
	err error
}

// startProbe serves p on a loopback port until t ends.
func startProbe(t *testing.T, onHeaders func(context.Context, func(*extprocv3.ProcessingResponse) error) error) *probe {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &probe{addr: ln.Addr().String(), onHeaders: onHeaders, change: make(chan struct{})}
	srv := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(srv, p)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return p
}

// Process implements the ext_proc stream.
func (p *probe) Process(s extprocv3.ExternalProcessor_ProcessServer) error {
	p.event(func() { p.open++ })
	for {
		req, err := s.Recv()
		if err != nil {
			p.event(func() {
				p.open--
				p.ends = append(p.ends, streamEnd{at: time.Now(), eof: errors.Is(err, io.EOF), err: err})
			})
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch {
		case req.GetRequestHeaders() != nil:
			if err := p.onHeaders(s.Context(), s.Send); err != nil {
				return err
			}
		case req.GetResponseHeaders() != nil:
			err := s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
				ResponseHeaders: &extprocv3.HeadersResponse{}}})
			if err != nil {
				return err
			}
		}
	}
}

func (p *probe) event(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.change)
	p.change = make(chan struct{})
}

// state returns the number of open streams, the ends so far, and a channel closed at the
// next change.
func (p *probe) state() (open int, ends []streamEnd, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, append([]streamEnd(nil), p.ends...), p.change
}

// await waits until cond holds for the probe's state or ctx ends.
func (p *probe) await(ctx context.Context, cond func(open int, ends []streamEnd) bool) error {
	for {
		open, ends, changed := p.state()
		if cond(open, ends) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// continueHeaders lets the request go on unchanged.
func continueHeaders() *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{}}}
}

// holdThen answers after d (or gives up when ctx ends).
func holdThen(d time.Duration, resp *extprocv3.ProcessingResponse) func(context.Context, func(*extprocv3.ProcessingResponse) error) error {
	return func(ctx context.Context, send func(*extprocv3.ProcessingResponse) error) error {
		select {
		case <-time.After(d):
			return send(resp)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// upstream is an in-process HTTP app. Requests to /slow block until release is closed;
// other paths answer 200 at once. entered gets one value per /slow request that arrived.
type upstream struct {
	port    int
	entered chan struct{}
	release chan struct{}
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{entered: make(chan struct{}, 100), release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			u.entered <- struct{}{}
			select {
			case <-u.release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("x-upstream", "yes")
		_, _ = io.WriteString(w, "upstream ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return u
}
