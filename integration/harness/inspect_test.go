package harness

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestStartedPIDs(t *testing.T) {
	log := filepath.Join(t.TempDir(), "wakegate.log")
	lines := `{"level":"INFO","msg":"starting","mode":"local"}
{"level":"INFO","msg":"process started","target":"app","pid":11,"command":["x"]}
{"level":"INFO","msg":"process started","target":"other","pid":12}
not json
{"level":"INFO","msg":"process exited","target":"app","pid":11}
{"level":"INFO","msg":"process started","target":"app","pid":13}
`
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	w := &Wakegate{Process: &Process{name: "wakegate", logPath: log}}
	if got := w.StartedPIDs("app"); !slices.Equal(got, []int{11, 13}) {
		t.Errorf("StartedPIDs(app) = %v, want [11 13]", got)
	}
	if got := w.StartedPIDs("absent"); len(got) != 0 {
		t.Errorf("StartedPIDs(absent) = %v, want none", got)
	}
	ctx := t.Context()
	if pid, err := w.AwaitStartedPID(ctx, "app", 2); err != nil || pid != 13 {
		t.Errorf("AwaitStartedPID(app, 2) = %d, %v; want 13", pid, err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := w.AwaitStartedPID(short, "app", 3); err == nil {
		t.Error("AwaitStartedPID(app, 3) found a third start")
	}
}

func TestReadyz(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	code := http.StatusServiceUnavailable
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
	})}
	go func() { _ = srv.Serve(ln) }()
	w := &Wakegate{Ports: Ports{Admin: ln.Addr().String()}}
	if got, err := w.Readyz(t.Context()); err != nil || got != code {
		t.Errorf("Readyz = %d, %v; want %d", got, err, code)
	}
	srv.Close()
	if _, err := w.Readyz(t.Context()); err == nil {
		t.Error("Readyz on a closed listener: no error")
	}
}

func TestProcessAlive(t *testing.T) {
	if !ProcessAlive(os.Getpid()) {
		t.Error("ProcessAlive(own pid) = false")
	}
	p, err := StartProcess(ProcessOptions{Name: "true", Path: "/bin/true", LogPath: filepath.Join(t.TempDir(), "true.log")})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done() // reaped
	if ProcessAlive(p.PID()) {
		t.Errorf("ProcessAlive(%d) = true after the process was reaped", p.PID())
	}
}
