package filter

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/wakegate/wakegate/internal/activity"
	"github.com/wakegate/wakegate/internal/gate"
	"github.com/wakegate/wakegate/internal/route"
)

// fakeProvider is a gate.Provider whose one target becomes ready when the test says so.
// Safe for concurrent use.
type fakeProvider struct {
	woken chan string // each Wake call, when there is room

	mu      sync.Mutex
	ready   bool
	changed chan struct{}
}

var _ gate.Provider = (*fakeProvider)(nil)

func newFakeProvider() *fakeProvider {
	return &fakeProvider{woken: make(chan string, 16), changed: make(chan struct{})}
}

func (p *fakeProvider) Ready(string) (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready, p.changed
}

func (p *fakeProvider) Wake(_ context.Context, target string) error {
	select {
	case p.woken <- target:
	default:
	}
	return nil
}

func (p *fakeProvider) setReady() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = true
	close(p.changed)
	p.changed = make(chan struct{})
}

// TestExtProcRealGate wires the real gate behind the server: a cold target is held, woken,
// and released with the cold-start header once the provider reports it ready; a second
// request then continues at once. In-flight counts return to zero when the streams end.
func TestExtProcRealGate(t *testing.T) {
	g, p, tracker := newRealGate(t)
	h := startExtProc(t, ExtProcOptions{Gate: g, OverrideMessageTimeout: true})

	holdAndRelease(t, h, p)

	warm, err := h.client.Process(t.Context())
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if err := warm.Send(reqHeaders(":authority", "airflow.example.com", ":path", "/home")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r, err := warm.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	expectRequestContinue(nil)(t, r)
	endStream(t, h, warm)

	st, _ := tracker.Stats("airflow")
	if st.RequestsTotal != 2 || st.InFlight != 0 || st.Held != 0 {
		t.Errorf("tracker stats %+v, want 2 requests, none in flight or held", st)
	}
}

// A client that goes away mid-hold leaves no count behind in the real gate.
func TestExtProcRealGateCancel(t *testing.T) {
	g, _, tracker := newRealGate(t)
	h := startExtProc(t, ExtProcOptions{Gate: g, OverrideMessageTimeout: true})
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := h.client.Process(ctx)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if err := stream.Send(reqHeaders(":authority", "airflow.example.com", ":path", "/")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := stream.Recv(); err != nil { // the override: the request is held
		t.Fatalf("Recv: %v", err)
	}
	if st, _ := tracker.Stats("airflow"); st.InFlight != 1 || st.Held != 1 {
		t.Errorf("while held: stats %+v, want 1 in flight and held", st)
	}
	cancel()
	h.waitEnded(t)
	if st, _ := tracker.Stats("airflow"); st.InFlight != 0 || st.Held != 0 {
		t.Errorf("after cancel: stats %+v, want none in flight or held", st)
	}
}

// newRealGate returns a gate with one cold target "airflow" (airflow.example.com, one
// minute hold), its provider and tracker; the gate is closed when the test ends.
func newRealGate(t *testing.T) (*gate.Gate, *fakeProvider, *activity.Tracker) {
	t.Helper()
	p := newFakeProvider()
	tracker := activity.New(time.Minute)
	g, err := gate.New(gate.Options{Provider: p, Tracker: tracker})
	if err != nil {
		t.Fatalf("gate.New: %v", err)
	}
	t.Cleanup(func() { g.Drain(); g.Close() })
	err = g.Configure([]gate.Target{{
		Rule:   route.Rule{Target: "airflow", Hosts: []string{"airflow.example.com"}},
		Policy: gate.Policy{HoldTimeout: time.Minute},
	}})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return g, p, tracker
}

// holdAndRelease sends a request for the cold target, waits until it is held and woken,
// makes the target ready, and checks the release answer.
func holdAndRelease(t *testing.T, h *harness, p *fakeProvider) {
	t.Helper()
	cold, err := h.client.Process(t.Context())
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if err := cold.Send(reqHeaders(":authority", "airflow.example.com", ":path", "/home")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r, err := cold.Recv() // sent from OnHold: the request is now held
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	expectOverride(time.Minute+DefaultOverrideMargin)(t, r)
	if got := <-p.woken; got != "airflow" {
		t.Errorf("woke %q, want airflow", got)
	}
	p.setReady()
	r, err = cold.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	ms := r.GetRequestHeaders().GetResponse().GetHeaderMutation().GetSetHeaders()
	if len(ms) != 1 || ms[0].GetHeader().GetKey() != ColdStartHeader {
		t.Fatalf("answer %v, want CONTINUE setting %s", r, ColdStartHeader)
	}
	if n, err := strconv.Atoi(string(ms[0].GetHeader().GetRawValue())); err != nil || n < 0 {
		t.Errorf("%s = %q, want whole milliseconds", ColdStartHeader, ms[0].GetHeader().GetRawValue())
	}
	endStream(t, h, cold)
}

// endStream half-closes a stream whose answers were all read and waits for Process to end.
func endStream(t *testing.T, h *harness, s extprocv3.ExternalProcessor_ProcessClient) {
	t.Helper()
	if err := s.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the last answer = %v, want io.EOF", err)
	}
	if err := h.waitEnded(t); err != nil {
		t.Fatalf("Process returned %v", err)
	}
}
