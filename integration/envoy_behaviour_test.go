package integration

// These tests settle how Envoy itself treats a held ext_proc request (docs/envoy.md), using
// a scripted ext_proc server (probe) and an in-process upstream instead of wakegate.

import (
	"context"
	"net/http"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/wakegate/wakegate/envoy"
	"github.com/wakegate/wakegate/integration/harness"
)

// TestExtProcStreamLifetime: with only request headers sent (response headers SKIP), Envoy
// ends the ext_proc stream as soon as the headers are answered, while the upstream is still
// working on the request; with response headers SEND the stream lasts until the response
// headers have been processed. Either way Envoy ends it with a reset, not a half-close.
func TestExtProcStreamLifetime(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name            string
		responseHeaders bool
		openWhileBusy   int // streams open while the upstream holds the request
	}{{"response headers SKIP", false, 0}, {"response headers SEND", true, 1}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProbe(t, func(_ context.Context, send func(*extprocv3.ProcessingResponse) error) error {
				return send(continueHeaders())
			})
			u := startUpstream(t)
			l := testBootstrap(t, u.port, p.addr)
			l.SendResponseHeaders = tt.responseHeaders
			e := startEnvoy(t, l)

			done := make(chan reply, 1)
			go func() {
				r, err := tryGet(t.Context(), e.URL("gated")+"/slow", "app.test")
				if err != nil {
					t.Errorf("GET /slow: %v", err)
				}
				done <- r
			}()
			select {
			case <-u.entered:
			case <-deadline(t, 30*time.Second).Done():
				t.Fatal("the request never reached the upstream")
			}
			// The stream's end and the upstream's start race: wait for the settled state.
			wantEnds := 1 - tt.openWhileBusy
			if err := p.await(deadline(t, 5*time.Second), func(open int, ends []streamEnd) bool {
				return open == tt.openWhileBusy && len(ends) == wantEnds
			}); err != nil {
				open, ends, _ := p.state()
				t.Fatalf("while the upstream is busy: %d open, %d ended; want %d open, %d ended", open, len(ends), tt.openWhileBusy, wantEnds)
			}
			close(u.release)
			if r := <-done; r.status != http.StatusOK {
				t.Fatalf("status %d, want 200", r.status)
			}
			if err := p.await(deadline(t, 10*time.Second), func(open int, ends []streamEnd) bool { return open == 0 && len(ends) == 1 }); err != nil {
				t.Fatalf("stream did not end after the response: %v", err)
			}
			_, ends, _ := p.state()
			// Envoy resets the stream rather than half-closing it: the server's Recv fails
			// with Canceled, never io.EOF.
			if ends[0].eof || status.Code(ends[0].err) != codes.Canceled {
				t.Errorf("stream ended with eof=%v err=%v, want a reset (Canceled)", ends[0].eof, ends[0].err)
			}
		})
	}
}

// TestImmediateResponseContentType: what content-type Envoy gives an ImmediateResponse.
func TestImmediateResponseContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers []*corev3.HeaderValueOption
		want    string
	}{
		{"none set", nil, "text/plain"},
		{"html set", []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte("text/html; charset=utf-8")}}},
			"text/html; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProbe(t, func(_ context.Context, send func(*extprocv3.ProcessingResponse) error) error {
				return send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
					ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
						Headers: &extprocv3.HeaderMutation{SetHeaders: tt.headers}, Body: []byte("not yet")}}})
			})
			u := startUpstream(t)
			e := startEnvoy(t, testBootstrap(t, u.port, p.addr))
			r := get(t, e.URL("gated")+"/", "app.test")
			if r.status != http.StatusServiceUnavailable || r.body != "not yet" {
				t.Fatalf("got %d %q, want 503 %q", r.status, r.body, "not yet")
			}
			if got := r.header.Get("content-type"); got != tt.want {
				t.Errorf("content-type %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHoldTimeouts: which Envoy timeouts cut a request held in the request-headers phase.
func TestHoldTimeouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*envoy.Local)
		hold time.Duration // before the probe answers CONTINUE
		path string
		want int
		stat string // an ext_proc stat that must be 1 afterwards
	}{
		// The route timeout starts once the router forwards the request: a hold longer than
		// it is fine (control: a slow upstream does hit it).
		{"route timeout excludes hold", func(l *envoy.Local) { l.RouteTimeout = time.Second }, 2 * time.Second, "/", 200, ""},
		{"route timeout control", func(l *envoy.Local) { l.RouteTimeout = time.Second }, 0, "/slow", 504, ""},
		// message_timeout shorter than the hold: fail-closed answers 504, fail-open forwards.
		{"message timeout fail-closed", func(l *envoy.Local) { l.MessageTimeout, l.FailureModeAllow = 300*time.Millisecond, false },
			30 * time.Second, "/", 504, "message_timeouts"},
		{"message timeout fail-open", func(l *envoy.Local) { l.MessageTimeout, l.FailureModeAllow = 300*time.Millisecond, true },
			30 * time.Second, "/", 200, "message_timeouts"},
		// The gRPC service timeout does not bound the ext_proc stream.
		{"grpc service timeout", func(l *envoy.Local) { l.GRPCTimeout = 500 * time.Millisecond }, 1500 * time.Millisecond, "/", 200, ""},
		// The HCM stream_idle_timeout does run while a request is held: 504 "stream timeout"
		// (response flag SI), as the request was complete.
		{"stream idle timeout", func(l *envoy.Local) { l.StreamIdleTimeout = 500 * time.Millisecond }, 1500 * time.Millisecond, "/", 504, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProbe(t, holdThen(tt.hold, continueHeaders()))
			u := startUpstream(t)
			l := testBootstrap(t, u.port, p.addr)
			tt.edit(&l)
			e := startEnvoy(t, l)
			r := get(t, e.URL("gated")+tt.path, "app.test")
			t.Logf("held %v: status %d after %v", tt.hold, r.status, r.elapsed.Round(time.Millisecond))
			if r.status != tt.want {
				t.Errorf("status %d, want %d (body %q)", r.status, tt.want, r.body)
			}
			assertStat(t, e, tt.stat, 1)
		})
	}
}

// TestOverrideMessageTimeout: a ProcessingResponse carrying only override_message_timeout
// extends the wait when max_message_timeout allows it, and is ignored otherwise.
func TestOverrideMessageTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		max  time.Duration
		want int
		stat string
	}{
		{"max set", 20 * time.Second, 200, "override_message_timeout_received"},
		{"max unset", 0, 504, "override_message_timeout_ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProbe(t, func(ctx context.Context, send func(*extprocv3.ProcessingResponse) error) error {
				err := send(&extprocv3.ProcessingResponse{OverrideMessageTimeout: durationpb.New(10 * time.Second)})
				if err != nil {
					return err
				}
				return holdThen(2*time.Second, continueHeaders())(ctx, send)
			})
			u := startUpstream(t)
			l := testBootstrap(t, u.port, p.addr)
			l.MessageTimeout, l.MaxMessageTimeout, l.FailureModeAllow = time.Second, tt.max, false
			e := startEnvoy(t, l)
			r := get(t, e.URL("gated")+"/", "app.test")
			t.Logf("status %d after %v", r.status, r.elapsed.Round(time.Millisecond))
			if r.status != tt.want {
				t.Errorf("status %d, want %d", r.status, tt.want)
			}
			assertStat(t, e, tt.stat, 1)
		})
	}
}

// TestExtProcUnreachable: what Envoy answers when nothing listens at the ext_proc address.
func TestExtProcUnreachable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		failOpen bool
		want     int
	}{{"fail-closed", false, 500}, {"fail-open", true, 200}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t)
			l := testBootstrap(t, u.port, "127.0.0.1:1") // nothing listens on port 1 for us
			l.FailureModeAllow = tt.failOpen
			e := startEnvoy(t, l)
			r := get(t, e.URL("gated")+"/", "app.test")
			t.Logf("status %d after %v", r.status, r.elapsed.Round(time.Millisecond))
			if r.status != tt.want {
				t.Errorf("status %d, want %d (body %q)", r.status, tt.want, r.body)
			}
		})
	}
}

// assertStat checks the gated listener's ext_proc stat name (skipped if name is "").
func assertStat(t *testing.T, e *harness.Envoy, name string, want int64) {
	t.Helper()
	if name == "" {
		return
	}
	got, err := e.Stat(t.Context(), "http.gated.ext_proc."+name)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("stat %s = %d, want %d", name, got, want)
	}
}
