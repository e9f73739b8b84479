package fleetstatus

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes a summary line, one table row per node and then each
// node's errors.
func (f *Fleet) WriteText(w io.Writer) error {
	b := &errWriter{w: w}
	b.printf("fleet %s branch %s at %s, %s\n", f.Repo, f.Branch, short(f.Head), f.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if f.StatusRepo != "" {
		b.printf("status refs from %s\n", f.StatusRepo)
	}
	b.printf("%s (heartbeat %s, stale after %s, offline after %s)\n", f.summary(), Age(f.Heartbeat.Duration), Age(f.StaleAfter.Duration), Age(f.OfflineAfter.Duration))
	for _, warn := range f.Warnings {
		b.printf("warning: %s\n", warn)
	}
	if len(f.Nodes) == 0 {
		b.printf("\nno nodes: nodes/ is empty and no status refs exist\n")
		return b.err
	}
	b.printf("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\t%s\tSTATE\tAPPLIED\tBEHIND\tHEALTHY\tFAILING\tLAST SEEN\tMODELS\tREASON\n", strings.ToUpper(f.GroupBy))
	for _, n := range f.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, dash(n.Site), n.State,
			dash(short(n.AppliedRevision)), n.behind(), n.count(n.Healthy), n.count(n.Failing), f.lastSeen(n), n.models(), oneLine(n.reason()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(f.Models) > 0 {
		b.printf("\nmodels:\n")
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, m := range f.Models {
			for i, v := range m.Versions {
				name := m.Workload
				if i > 0 {
					name = ""
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%d %s: %s\n", name, v.Version(), v.Repository, len(v.Nodes), plural(len(v.Nodes), "node", "nodes"), strings.Join(v.Nodes, ", "))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(f.Rollouts) > 0 {
		b.printf("\nrollouts of %s:\n", short(f.Head))
		for _, r := range f.Rollouts {
			b.printf("  %s: %s\n", r.Group, r.text(" → "))
		}
	}
	first := true
	for _, n := range f.Nodes {
		if len(n.Errors) == 0 {
			continue
		}
		if first {
			b.printf("\nerrors:\n")
			first = false
		}
		for _, e := range n.Errors {
			b.printf("  %s: %s\n", n.Name, oneLine(e))
		}
	}
	if logs := f.workloadLogs(); len(logs) > 0 {
		b.printf("\nlogs of failing workloads (last %d lines each; all in -o json):\n", logLines)
		for _, l := range logs {
			b.printf("  %s %s (%s):\n", l.node, l.workload, l.why)
			for _, line := range l.lines {
				b.printf("    | %s\n", line)
			}
		}
	}
	return b.err
}

// summary is "9 nodes: 2 up-to-date, 1 updating, …", every state listed.
func (f *Fleet) summary() string {
	parts := make([]string, 0, len(States()))
	for _, s := range States() {
		parts = append(parts, fmt.Sprintf("%d %s", f.Counts[s], s))
	}
	noun := "nodes"
	if len(f.Nodes) == 1 {
		noun = "node"
	}
	return fmt.Sprintf("%d %s: %s", len(f.Nodes), noun, strings.Join(parts, ", "))
}

// lastSeen is "5m ago", or "never".
func (f *Fleet) lastSeen(n Node) string {
	if n.LastSeen == nil {
		return "never"
	}
	return Age(f.GeneratedAt.Sub(*n.LastSeen)) + " ago"
}

// reason is Reason, flagged when verification is off on the node.
func (n Node) reason() string {
	if n.VerificationDisabled {
		return n.Reason + " [verification off]"
	}
	return n.Reason
}

func (n Node) behind() string {
	switch {
	case n.Behind != nil:
		return n.Behind.String()
	case n.AppliedRevision != "":
		return "?"
	}
	return "-"
}

// models is the node's model versions, "-" for none.
func (n Node) models() string {
	if len(n.Models) == 0 {
		return "-"
	}
	parts := make([]string, len(n.Models))
	for i, m := range n.Models {
		parts[i] = m.String()
	}
	return strings.Join(parts, ", ")
}

// text is the rollout's waves in one line: "wave canary 1/1 at head
// (1 up-to-date) → wave rest 0/3 at head (2 updating, 1 failing)".
func (r Rollout) text(sep string) string {
	parts := make([]string, len(r.Waves))
	for i, w := range r.Waves {
		parts[i] = "wave " + w.Name + " " + w.summary()
	}
	return strings.Join(parts, sep)
}

// summary is "1/3 at head (1 up-to-date, 2 updating)".
func (w RolloutWave) summary() string {
	var states []string
	for _, s := range States() {
		if c := w.Counts[s]; c > 0 {
			states = append(states, fmt.Sprintf("%d %s", c, s))
		}
	}
	s := fmt.Sprintf("%d/%d at head", w.AtHead, len(w.Nodes))
	if len(states) > 0 {
		s += " (" + strings.Join(states, ", ") + ")"
	}
	return s
}

// count shows a workload count, or "-" for a node without a report.
func (n Node) count(c int) string {
	if !n.Reported || (len(n.Workloads) == 0 && c == 0) {
		return "-"
	}
	return fmt.Sprint(c)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a reason or error on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}
