package scaler

import (
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
)

// pushLatencyBound is the loose bound the task asks for on a pushed true; the real figure
// is logged.
const pushLatencyBound = 100 * time.Millisecond

type isActiveStream = grpc.ServerStreamingClient[pb.IsActiveResponse]

func TestStreamPushesFirstHeldRequest(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := newHarness(t, harnessOptions{targets: []string{"app"}})
	r := ref("app", KeyActiveWithin, "0s")
	s1, cancel1 := h.openStream(t, r)
	s2, cancel2 := h.openStream(t, r)
	for i, s := range []isActiveStream{s1, s2} {
		if recv(t, s) {
			t.Fatalf("stream %d: first value is true for an idle target", i+1)
		}
	}

	start := time.Now()
	h.tr.Begin("app")
	h.tr.HoldStart("app")
	for i, s := range []isActiveStream{s1, s2} {
		if !recv(t, s) {
			t.Fatalf("stream %d: pushed false for a held request", i+1)
		}
		lat := time.Since(start)
		t.Logf("stream %d: true pushed %v after the held request", i+1, lat)
		if lat > pushLatencyBound {
			t.Errorf("stream %d: push took %v, want < %v", i+1, lat, pushLatencyBound)
		}
	}

	// Closing one stream ends its handler with nil while the other keeps going.
	cancel1()
	if err := h.handlerReturned(t); err != nil {
		t.Errorf("handler of a closed stream returned %v, want nil", err)
	}
	h.tr.HoldEnd("app")
	h.tr.End("app")
	if recv(t, s2) {
		t.Error("stream 2: pushed true after the request ended with activeWithin 0")
	}
	cancel2()
	if err := h.handlerReturned(t); err != nil {
		t.Errorf("handler of the second stream returned %v, want nil", err)
	}
	h.stop()
}

func TestStreamFalseWhenActiveWithinRunsOut(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"app"}})
	const within = 50 * time.Millisecond
	s, _ := h.openStream(t, ref("app", KeyActiveWithin, within.String()))
	if recv(t, s) {
		t.Fatal("first value is true for an idle target")
	}
	h.tr.Begin("app")
	if !recv(t, s) {
		t.Fatal("no true pushed for a request in flight")
	}
	h.tr.End("app")
	st, _ := h.tr.Stats("app")
	if recv(t, s) {
		t.Fatal("pushed true twice in a row")
	}
	if since := time.Since(st.LastSeen); since < within {
		t.Errorf("false pushed %v after the last request, before activeWithin %v ran out", since, within)
	}

	// The next request is pushed again.
	h.tr.Begin("app")
	defer h.tr.End("app")
	if !recv(t, s) {
		t.Fatal("no true pushed for the next request")
	}
}

func TestStreamOnlySendsChanges(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"app"}})
	s, _ := h.openStream(t, ref("app", KeyActiveWithin, "0s"))
	if recv(t, s) {
		t.Fatal("first value is true for an idle target")
	}
	h.tr.Begin("app")
	if !recv(t, s) {
		t.Fatal("no true pushed for a request in flight")
	}
	// Held edges while busy wake the stream without changing its value. Each step waits
	// until the stream has looked at the new state, so a repeated true could not hide.
	h.drainWatches()
	h.tr.HoldStart("app")
	h.watched(t)
	h.tr.HoldEnd("app")
	h.watched(t)
	h.tr.End("app")
	if recv(t, s) {
		t.Fatal("a repeated true was pushed")
	}
}

func TestStreamUnknownTargetConfiguredLater(t *testing.T) {
	t.Run("Notifier wakes the stream", func(t *testing.T) {
		// The ref's name differs from the target's, so only the Notifier can wake it.
		fake := newFakeResolver()
		h := newHarness(t, harnessOptions{resolver: fake})
		s, _ := h.openStream(t, ref("web", KeyActiveWithin, "0s"))
		if recv(t, s) {
			t.Fatal("first value is true for an unknown target")
		}
		fake.add("web", "web-target")
		h.tr.Begin("web-target")
		defer h.tr.End("web-target")
		if !recv(t, s) {
			t.Fatal("no true pushed once the target was configured and busy")
		}
	})
	t.Run("NameResolver, traffic under the ref's name wakes the stream", func(t *testing.T) {
		var configured atomic.Bool
		h := newHarness(t, harnessOptions{resolver: NameResolver(func(string) bool { return configured.Load() })})
		s, _ := h.openStream(t, ref("late", KeyActiveWithin, "0s"))
		if recv(t, s) {
			t.Fatal("first value is true for an unknown target")
		}
		h.tr.Begin("late") // traffic before configuration does not count
		h.tr.End("late")
		configured.Store(true)
		h.tr.Begin("late")
		defer h.tr.End("late")
		if !recv(t, s) {
			t.Fatal("no true pushed once the target was configured and busy")
		}
	})
}

func TestDrainEndsStreams(t *testing.T) {
	h := newHarness(t, harnessOptions{targets: []string{"app"}})
	s, _ := h.openStream(t, ref("app"))
	if recv(t, s) {
		t.Fatal("first value is true for an idle target")
	}
	h.srv.Drain()
	h.srv.Drain() // idempotent
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Drain, Recv = %v, want EOF", err)
	}
	// A stream opened while draining still gets its value, then EOF.
	h.tr.Begin("app")
	defer h.tr.End("app")
	s2, _ := h.openStream(t, ref("app"))
	if !recv(t, s2) {
		t.Fatal("stream opened during drain: first value false for a busy target")
	}
	if _, err := s2.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream opened during drain: Recv = %v, want EOF", err)
	}
}
