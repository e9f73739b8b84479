package fleetstatus

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the fleet for an issue or PR comment: the counts
// per state, one table row per node, and the errors folded in a
// <details> block.
func (f *Fleet) WriteMarkdown(w io.Writer) error {
	b := &errWriter{w: w}
	b.printf("## Fleet status\n\n")
	b.printf("Branch `%s` at %s of %s, %s.", mdCode(f.Branch), mdCommit(f.CommitURL, f.Head), mdCell(f.Repo), f.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if f.StatusRepo != "" {
		b.printf(" Status refs from %s.", mdCell(f.StatusRepo))
	}
	b.printf(" Heartbeat %s, stale after %s, offline after %s.\n\n", Age(f.Heartbeat.Duration), Age(f.StaleAfter.Duration), Age(f.OfflineAfter.Duration))
	for _, warn := range f.Warnings {
		b.printf("> **Warning:** %s\n\n", mdCell(warn))
	}

	var head, sep, row strings.Builder
	head.WriteString("| nodes |")
	sep.WriteString("|---:|")
	fmt.Fprintf(&row, "| %d |", len(f.Nodes))
	for _, s := range States() {
		fmt.Fprintf(&head, " %s |", s)
		sep.WriteString("---:|")
		fmt.Fprintf(&row, " %d |", f.Counts[s])
	}
	b.printf("%s\n%s\n%s\n\n", head.String(), sep.String(), row.String())

	if len(f.Nodes) == 0 {
		b.printf("No nodes: nodes/ is empty and no status refs exist.\n")
		return b.err
	}
	b.printf("| node | %s | state | applied | behind | healthy | failing | last seen | models | reason |\n", mdCell(f.GroupBy))
	b.printf("|---|---|---|---|---:|---:|---:|---|---|---|\n")
	for _, n := range f.Nodes {
		applied := "-"
		if n.AppliedRevision != "" {
			applied = mdCommit(f.CommitURL, n.AppliedRevision)
		}
		b.printf("| %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s |\n", mdCell(n.Name), mdCell(dash(n.Site)), n.State,
			applied, n.behind(), n.count(n.Healthy), n.count(n.Failing), f.lastSeen(n), mdCell(n.models()), mdCell(n.reason()))
	}
	if len(f.Models) > 0 {
		b.printf("\n| workload | version | image | nodes |\n|---|---|---|---|\n")
		for _, m := range f.Models {
			for _, v := range m.Versions {
				b.printf("| %s | `%s` | `%s` | %d: %s |\n", mdCell(m.Workload), mdCode(v.Version()), mdCode(v.Repository), len(v.Nodes), mdCell(strings.Join(v.Nodes, ", ")))
			}
		}
	}
	if len(f.Rollouts) > 0 {
		b.printf("\n| rollout of `%s` | waves |\n|---|---|\n", short(f.Head))
		for _, r := range f.Rollouts {
			b.printf("| %s | %s |\n", mdCell(r.Group), mdCell(r.text(" → ")))
		}
	}

	for _, l := range f.workloadLogs() {
		b.printf("\n<details><summary>Log of <b>%s</b> on <b>%s</b> (%s)</summary>\n\n```\n%s\n```\n\n</details>\n",
			mdCell(l.workload), mdCell(l.node), mdCell(l.why), strings.ReplaceAll(strings.Join(l.lines, "\n"), "```", "'''"))
	}
	withErrors := 0
	for _, n := range f.Nodes {
		if len(n.Errors) > 0 {
			withErrors++
		}
	}
	if withErrors == 0 {
		return b.err
	}
	b.printf("\n<details><summary>Errors (%d %s)</summary>\n\n", withErrors, plural(withErrors, "node", "nodes"))
	for _, n := range f.Nodes {
		for _, e := range n.Errors {
			b.printf("- **%s**: `%s`\n", mdCell(n.Name), mdCode(oneLine(e)))
		}
	}
	b.printf("\n</details>\n")
	return b.err
}

// mdCommit is a commit's short hash in a code span, linked to its page
// when tmpl (Fleet.CommitURL) is known.
func mdCommit(tmpl, commit string) string {
	code := "`" + short(commit) + "`"
	if u := CommitURL(tmpl, commit); u != "" {
		return "[" + code + "](" + strings.NewReplacer("(", "%28", ")", "%29", " ", "%20").Replace(u) + ")"
	}
	return code
}

// mdCell escapes text for a table cell or inline text.
func mdCell(s string) string {
	s = oneLine(s)
	r := strings.NewReplacer(`\`, `\\`, "|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// mdCode keeps text inside a code span: no backquotes, one line.
func mdCode(s string) string {
	return strings.ReplaceAll(oneLine(s), "`", "'")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
