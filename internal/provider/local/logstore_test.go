package local

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// record is one captured log record with its attributes flattened to strings.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// logStore captures records and lets tests wait for one. Safe for concurrent use.
type logStore struct {
	mu      sync.Mutex
	recs    []record
	changed chan struct{}
}

type recordHandler struct {
	store *logStore
	attrs []slog.Attr
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recordHandler{store: h.store, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h recordHandler) WithGroup(string) slog.Handler { return h }

func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	rec := record{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.String()
		return true
	})
	s := h.store
	s.mu.Lock()
	s.recs = append(s.recs, rec)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func newLogStore() (*logStore, *slog.Logger) {
	s := &logStore{changed: make(chan struct{})}
	return s, slog.New(recordHandler{store: s})
}

// matching returns the records for which match is true.
func (s *logStore) matching(match func(record) bool) []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []record
	for _, r := range s.recs {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// waitN waits until at least n records match and returns them.
func (s *logStore) waitN(t *testing.T, n int, what string, match func(record) bool) []record {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if got := s.matching(match); len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %d log record(s): %s; have:\n%s", n, what, s.dump())
		}
	}
}

func (s *logStore) wait(t *testing.T, what string, match func(record) bool) record {
	t.Helper()
	return s.waitN(t, 1, what, match)[0]
}

func (s *logStore) dump() string {
	var b strings.Builder
	for _, r := range s.matching(func(record) bool { return true }) {
		fmt.Fprintf(&b, "  %s %q %v\n", r.Level, r.Msg, r.Attrs)
	}
	return b.String()
}

// msgIs matches records of target with exactly this message.
func msgIs(target, msg string) func(record) bool {
	return func(r record) bool { return r.Msg == msg && r.Attrs["target"] == target }
}
