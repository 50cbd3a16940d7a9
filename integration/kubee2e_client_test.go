package integration

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wakegate/wakegate/integration/harness"
)

// kubeReply is the outcome of a request sent in the background, and when it arrived.
type kubeReply struct {
	reply
	err  error
	sent time.Time
	at   time.Time
}

// sendKube sends GET url with Host host in the background; the channel delivers the outcome.
// The request ends with t's context at the latest.
func sendKube(t testing.TB, url, host string) <-chan kubeReply {
	out := make(chan kubeReply, 1)
	ctx := t.Context()
	sent := time.Now()
	go func() {
		r, err := tryGet(ctx, url, host)
		out <- kubeReply{reply: r, err: err, sent: sent, at: time.Now()}
	}()
	return out
}

// awaitReply waits up to d for the outcome of a request sent with sendKube.
func awaitReply(t testing.TB, ch <-chan kubeReply, d time.Duration, what string) kubeReply {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r
	case <-deadline(t, d).Done():
		t.Fatalf("%s: no answer within %v", what, d)
	}
	return kubeReply{}
}

// stillHeld fails t if the request sent with sendKube was answered already.
func stillHeld(t testing.TB, ch <-chan kubeReply, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: answered already (status %d, err %v), want it held", what, r.status, r.err)
	default:
	}
}

// adminGet returns the status code and body of GET path on wakegate's admin port.
func adminGet(ctx context.Context, w *harness.Wakegate, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.AdminURL()+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), err
}

// kubePush is one StreamIsActive message and when the test received it.
type kubePush struct {
	active bool
	at     time.Time
}

// openIsActiveStream opens KEDA's generated StreamIsActive client on wakegate's scaler port
// for ref and delivers every message until the stream or t ends.
func openIsActiveStream(t testing.TB, addr string, ref *pb.ScaledObjectRef) <-chan kubePush {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := pb.NewExternalScalerClient(conn).StreamIsActive(ctx, ref)
	if err != nil {
		cancel()
		conn.Close()
		t.Fatalf("StreamIsActive: %v", err)
	}
	out := make(chan kubePush, 16)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	go func() {
		defer close(done)
		defer close(out)
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			select {
			case out <- kubePush{m.GetResult(), time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// nextPush waits for the next StreamIsActive message.
func nextPush(t testing.TB, ch <-chan kubePush, what string) kubePush {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("waiting for %s: the stream ended", what)
		}
		return m
	case <-deadline(t, 30*time.Second).Done():
		t.Fatalf("waiting for %s: nothing within 30s", what)
	}
	return kubePush{}
}

// logTailKube returns the last n lines of s.
func logTailKube(s string, n int) string {
	var lines []string
	for l := range strings.Lines(s) {
		lines = append(lines, l)
	}
	return strings.Join(lines[max(0, len(lines)-n):], "")
}
