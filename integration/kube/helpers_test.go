package kube_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wakegate/wakegate/integration/kube"
)

// logMemory logs each component's resident memory, read from /proc where there is one.
func logMemory(t *testing.T, c *kube.Cluster) {
	t.Helper()
	var total int64
	var parts []string
	for name, pid := range c.PIDs() {
		kib, ok := rssKiB(pid)
		if !ok {
			return
		}
		total += kib
		parts = append(parts, name+"="+strconv.FormatInt(kib>>10, 10)+"MiB")
	}
	t.Logf("resident memory: %d MiB total (%s)", total>>10, strings.Join(parts, " "))
}

func rssKiB(pid int) (int64, bool) {
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib, err == nil
		}
	}
	return 0, false
}

// stopAndCheckLeftovers stops c and fails t if any process still names c's state directory on
// its command line, which is what `pgrep -f <state dir>` would find.
func stopAndCheckLeftovers(t *testing.T, c *kube.Cluster) {
	t.Helper()
	c.Stop()
	if pids := c.PIDs(); len(pids) != 0 {
		t.Errorf("components still running after Stop: %v", pids)
	}
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(procs) == 0 {
		t.Logf("no /proc to scan for leftover processes (%v)", err)
		return
	}
	needle := []byte(c.StateDir())
	for _, f := range procs {
		cmdline, err := os.ReadFile(f)
		if err == nil && bytes.Contains(cmdline, needle) {
			t.Errorf("leftover process after Stop: %s: %s", filepath.Dir(f),
				bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
}
