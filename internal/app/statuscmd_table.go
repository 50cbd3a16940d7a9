package app

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// writeStatusTable prints doc for an operator: a header line, the targets with their
// merged counts (what KEDA sees) and the replicas they came from, then the peers. Ages
// are taken against doc.Time, the replica's own clock, so a skewed local clock does not
// distort them.
func writeStatusTable(w io.Writer, doc statusDoc) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "replica %s at %s: HELD, IN-FLIGHT and RATE (per second, last %.0fs) are merged over REPORTED-BY\n\n",
		doc.Replica, doc.Time.Format(time.RFC3339), statusRateWindow.Seconds())
	if len(doc.Targets) == 0 {
		fmt.Fprintln(tw, "no targets configured")
	} else {
		fmt.Fprintln(tw, "TARGET\tSTATE\tREADY\tHELD\tIN-FLIGHT\tRATE\tLAST-SEEN\tREPORTED-BY")
	}
	for _, t := range doc.Targets {
		m := t.Merged
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", t.Name, t.State, yesNo(t.Ready), m.Held, m.InFlight,
			rate(m.RequestRate), ago(doc.Time, m.LastSeen), orDash(strings.Join(t.ReportedBy, ",")))
	}
	fmt.Fprintln(tw)
	if len(doc.Peers) == 0 {
		fmt.Fprintln(tw, "no peers in the view: a single replica, or none heard from yet (see --peers)")
	} else {
		fmt.Fprintln(tw, "REPLICA\tADDRESS\tLIVE\tLAST-REPORT\tDROP-AFTER")
	}
	for _, p := range doc.Peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Replica, p.Address, peerLive(p), ago(doc.Time, &p.LastReport),
			time.Duration(p.DropAfter))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// peerLive is the LIVE column: yes, or why not.
func peerLive(p peerStatus) string {
	switch {
	case p.Goodbye:
		return "no (goodbye while holding)"
	case !p.Live:
		return "no (silent)"
	}
	return "yes"
}

// rate formats requests per second with three significant digits.
func rate(v float64) string {
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// ago formats how long before now t was: "never" for nil, tenths of a second below a
// minute, whole seconds above.
func ago(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := max(now.Sub(*t), 0)
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s ago"
	}
	return d.Round(time.Second).String() + " ago"
}
