package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
)

// StartedPIDs returns the process ids wakegate's local provider logged as started for
// target ("process started" records of its JSON log), oldest first. It needs the JSON log
// format, which WakegateArgs selects.
func (w *Wakegate) StartedPIDs(target string) []int {
	var pids []int
	for line := range strings.Lines(w.Log()) {
		var rec struct {
			Msg    string `json:"msg"`
			Target string `json:"target"`
			PID    int    `json:"pid"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "process started" && rec.Target == target && rec.PID > 0 {
			pids = append(pids, rec.PID)
		}
	}
	return pids
}

// AwaitStartedPID polls the log until wakegate has started target's process n times (n ≥ 1)
// and returns the pid of the n-th start.
func (w *Wakegate) AwaitStartedPID(ctx context.Context, target string, n int) (int, error) {
	var pid int
	err := Poll(ctx, func() (bool, error) {
		pids := w.StartedPIDs(target)
		if len(pids) >= n {
			pid = pids[n-1]
			return true, nil
		}
		return false, fmt.Errorf("%s started %d times, waiting for start %d", target, len(pids), n)
	})
	return pid, err
}

// Readyz returns the status code of wakegate's /readyz: 200 when ready, 503 while starting
// or draining. An error means no HTTP answer (e.g. the admin listener is closed).
func (w *Wakegate) Readyz(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.AdminURL()+"/readyz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET /readyz: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, nil
}

// ProcessAlive reports whether a process with the given pid exists (a zombie counts: it
// has not been reaped yet).
func ProcessAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
