package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine describes where a run happened, for the report. Plain data.
type machine struct {
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpuModel"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"goVersion"`
	Envoy       string `json:"envoyVersion"`
	FDLimit     uint64 `json:"fdLimit"`
	LoadAtStart string `json:"loadAvgAtStart"`
	LoadAtEnd   string `json:"loadAvgAtEnd"`
}

// readMachine collects the facts about this machine; a fact that cannot be read is
// reported as "unknown" rather than failing the run.
func readMachine(ctx context.Context, envoyBin string) machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAtStart: loadAvg()}
	m.CPUModel = cpuModel()
	m.Kernel = strings.TrimSpace(readOr("/proc/sys/kernel/osrelease", "unknown"))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		m.FDLimit = lim.Cur
	}
	m.Envoy = "unknown"
	if out, err := exec.CommandContext(ctx, envoyBin, "--version").Output(); err == nil {
		m.Envoy = strings.TrimSpace(string(out))
		if _, v, ok := strings.Cut(m.Envoy, "version: "); ok {
			m.Envoy = v
		}
	}
	return m
}

func readOr(path, def string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	return string(b)
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	for line := range strings.Lines(readOr("/proc/cpuinfo", "")) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg returns the 1, 5 and 15 minute load averages, e.g. "1.20 0.90 0.75".
func loadAvg() string {
	f := strings.Fields(readOr("/proc/loadavg", ""))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// memory is a process's resident memory from /proc/PID/status, in bytes.
type memory struct {
	RSS     uint64 `json:"rssBytes"`  // VmRSS
	PeakRSS uint64 `json:"peakBytes"` // VmHWM
}

// readMemory reads VmRSS and VmHWM of pid.
func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("pid %d: %s %q: %w", pid, k, v, err)
		}
		if k == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.PeakRSS = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	return m, nil
}

// clockTick is Linux's USER_HZ, the unit of utime and stime in /proc/PID/stat. It is 100 on
// every architecture Go supports on Linux.
const clockTick = 10 * time.Millisecond

// readCPU returns the user plus system CPU time pid has used (all its threads), with the
// 10ms resolution of /proc/PID/stat.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu of pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: unexpected /proc/%d/stat %q", pid, pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d: unexpected /proc/%d/stat %q", pid, pid, b)
	}
	var ticks uint64
	for _, s := range f[11:13] { // utime and stime, fields 14 and 15 of the whole line
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pid %d: /proc/%d/stat field %q: %w", pid, pid, s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
