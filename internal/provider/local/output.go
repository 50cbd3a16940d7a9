package local

import (
	"bytes"
	"log/slog"
	"sync"
)

// maxLine is the longest line logged as one record; longer lines are split.
const maxLine = 64 << 10

// lineWriter logs what a child writes to one stream, one record per line, with the stream
// attribute. It is safe for concurrent use; Flush logs a final unterminated line.
type lineWriter struct {
	log *slog.Logger

	mu  sync.Mutex
	buf []byte // the current unterminated line
}

func newLineWriter(log *slog.Logger, stream string) *lineWriter {
	return &lineWriter{log: log.With("stream", stream)}
}

// Write logs every complete line in b and keeps the rest. It never fails.
func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		line, i := b, bytes.IndexByte(b, '\n')
		if i >= 0 {
			line = b[:i]
		}
		if room := maxLine - len(w.buf); len(line) > room { // too long: log a full piece
			w.buf = append(w.buf, line[:room]...)
			w.emitLocked()
			b = b[room:]
			continue
		}
		w.buf = append(w.buf, line...)
		if i < 0 {
			break
		}
		w.emitLocked()
		b = b[i+1:]
	}
	return n, nil
}

// Flush logs the unterminated rest, if any.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emitLocked()
	}
}

func (w *lineWriter) emitLocked() {
	line := bytes.TrimSuffix(w.buf, []byte("\r"))
	w.log.Info(string(line))
	w.buf = w.buf[:0]
}
