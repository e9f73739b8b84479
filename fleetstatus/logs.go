package fleetstatus

import (
	"fmt"
	"strings"
)

// logLines is how many lines of a failing workload's log the text and
// Markdown outputs show (JSON and the HTML page have the whole tail the
// node reported).
const logLines = 10

// workloadLog is the end of one failing workload's log, as its node
// reported it.
type workloadLog struct {
	node, workload, why string
	lines               []string
}

// workloadLogs lists the log tails in the nodes' reports, in the nodes'
// order (worst first).
func (f *Fleet) workloadLogs() []workloadLog {
	var out []workloadLog
	for _, n := range f.Nodes {
		for _, w := range n.Workloads {
			if w.LogTail == "" {
				continue
			}
			why := w.State
			if w.Health == "unhealthy" {
				why += ", unhealthy"
			}
			if w.ExitCode != nil && w.State != "running" {
				why += fmt.Sprintf(", exit %d", *w.ExitCode)
			}
			if w.Restarts > 0 {
				why += fmt.Sprintf(", %d restarts", w.Restarts)
			}
			out = append(out, workloadLog{node: n.Name, workload: w.Name, why: why, lines: lastLines(w.LogTail, logLines)})
		}
	}
	return out
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
