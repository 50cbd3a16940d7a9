package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func printMachine(w io.Writer, m machine) {
	fmt.Fprintf(w, "machine: %d CPUs (%s), kernel %s, %s, Envoy %s, fd limit %d\n",
		m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.Envoy, m.FDLimit)
	fmt.Fprintf(w, "load average at the start: %s\n", m.LoadAtStart)
}

func printWarm(w io.Writer, r *warmReport) {
	fmt.Fprintf(w, "\nwarm path: ready target, constant request rate (vegeta), HTTP/1.1 keep-alive to Envoy\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rate\tmode\trequests\tsuccess\tp50\tp90\tp99\tmax\tadded p50\tadded p99\tp50 ratio\tp99 ratio\twakegate CPU/req\tEnvoy CPU/req\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%d/s\t%s\t%d\t%.2f%%\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t\n",
			row.Rate, row.Mode, row.Requests, 100*row.Success, ms(row.P50), ms(row.P90), ms(row.P99), ms(row.Max),
			signedMs(row.AddedP50), signedMs(row.AddedP99), row.RatioP50, row.RatioP99,
			us(row.WakegateCPUPerRequest), us(row.EnvoyCPUPerRequest))
	}
	_ = tw.Flush() // writes to stdout; nothing to do on failure
	fmt.Fprintf(w, "wakegate let %.0f requests through at once; %d were sent through ext_proc and ext_authz\n",
		r.WakegateReady, r.GatedRequests)
	printProblems(w, r.Problems)
}

func printHeld(w io.Writer, r *heldReport) {
	fmt.Fprintf(w, "\nheld requests: %d across %d targets at zero, through Envoy's ext_proc listener (HTTP/2)\n", r.Requests, r.Targets)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\twakegate RSS\twakegate peak RSS\tgoroutines\tGo heap in use\t/metrics size\tEnvoy RSS\t")
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t\n", p.Name, mib(p.Wakegate.RSS), mib(p.Wakegate.PeakRSS),
			p.Goroutines, mib(uint64(p.HeapInuse)), mib(uint64(p.MetricsBytes)), mib(p.Envoy.RSS))
	}
	_ = tw.Flush() // writes to stdout; nothing to do on failure
	if idle, held := r.phase("idle"), r.phase("held"); idle.Name != "" && held.Name != "" && r.Requests > 0 {
		n := float64(r.Requests)
		fmt.Fprintf(w, "per held request: wakegate %.1f KiB RSS, %.1f KiB Go heap, %.2f goroutines; Envoy %.1f KiB RSS\n",
			(float64(held.Wakegate.RSS)-float64(idle.Wakegate.RSS))/n/1024, (held.HeapInuse-idle.HeapInuse)/n/1024,
			(held.Goroutines-idle.Goroutines)/n, (float64(held.Envoy.RSS)-float64(idle.Envoy.RSS))/n/1024)
	}
	fmt.Fprintf(w, "all held %s after the first request was sent (includes starting %d processes)\n", ms(r.AllHeldAfter), r.Targets)
	fmt.Fprintf(w, "release, from opening the readiness port: first answer %s, p50 %s, p90 %s, p99 %s, last %s\n",
		ms(r.FirstRelease), ms(r.ReleaseP50), ms(r.ReleaseP90), ms(r.ReleaseP99), ms(r.ReleaseMax))
	fmt.Fprintf(w, "CPU time while holding: wakegate %s, Envoy %s, app %s; while releasing: wakegate %s, Envoy %s, app %s\n",
		ms(r.HoldCPU.Wakegate), ms(r.HoldCPU.Envoy), ms(r.HoldCPU.App), ms(r.ReleaseCPU.Wakegate), ms(r.ReleaseCPU.Envoy), ms(r.ReleaseCPU.App))
	fmt.Fprintf(w, "status codes %v; wakegate counted %.0f released\n", r.StatusCodes, r.WakegateReleased)
	printProblems(w, r.Problems)
}

// phase returns the named phase, or a zero phase.
func (r *heldReport) phase(name string) phase {
	for _, p := range r.Phases {
		if p.Name == name {
			return p
		}
	}
	return phase{}
}

func printProblems(w io.Writer, problems []string) {
	for _, p := range problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
}

// ms formats d in milliseconds with three decimals ("0.412ms").
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

// signedMs is ms with an explicit sign.
func signedMs(d time.Duration) string {
	return fmt.Sprintf("%+.3fms", float64(d)/float64(time.Millisecond))
}

// us formats d in microseconds ("85µs").
func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }

// mib formats a byte count in MiB ("12.3MiB").
func mib(b uint64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
