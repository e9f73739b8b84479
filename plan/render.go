package plan

import (
	"fmt"
	"io"
	"strings"
)

// MarkdownMarker starts every plan written by Markdown, so that CI can
// find and update its earlier comment on a pull request.
const MarkdownMarker = "<!-- fleetctl plan -->"

// maxMarkdown keeps a plan under GitHub's 65,536-character comment limit.
const maxMarkdown = 60_000

// Text writes the plan for a terminal.
func (p *Plan) Text(w io.Writer) error {
	b := &strings.Builder{}
	s := p.Summary
	fmt.Fprintf(b, "Plan %s → %s\n", short(p.Base), short(p.Head))
	fmt.Fprintf(b, "%d of %d nodes change: %d %s added, %d changed, %d removed; download %s\n",
		s.NodesChanged, s.Nodes, s.WorkloadsAdded, plural(s.WorkloadsAdded, "workload"), s.WorkloadsChanged, s.WorkloadsRemoved, p.download())
	for _, n := range p.Nodes {
		fmt.Fprintf(b, "\n%s%s\n", n.Name, nodeSuffix(n))
		for _, e := range n.Errors {
			fmt.Fprintf(b, "  ! %s\n", e)
		}
		for _, line := range detailLines(n) {
			fmt.Fprintf(b, "  %s\n", line)
		}
	}
	if len(p.Images) > 0 {
		fmt.Fprintf(b, "\nImages to download:\n")
		for _, im := range p.Images {
			fmt.Fprintf(b, "  %s  %d %s  %s%s\n", shortRef(im.Ref), im.Nodes, plural(im.Nodes, "node"), imageSize(im), signatureSuffix(im))
		}
	}
	if lines := imageCheckLines(p.ImageChecks); len(lines) > 0 {
		fmt.Fprintf(b, "\n%s\n", lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(b, "  ! %s\n", l)
		}
	}
	if len(p.Notes) > 0 {
		fmt.Fprintf(b, "\n")
		for _, n := range p.Notes {
			fmt.Fprintf(b, "note: %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Markdown writes the plan as a pull-request comment: a summary table, the
// images, then one folded block per set of nodes with the same changes.
func (p *Plan) Markdown(w io.Writer) error {
	b := &strings.Builder{}
	s := p.Summary
	fmt.Fprintf(b, "%s\n### Fleet plan `%s` → `%s`\n\n", MarkdownMarker, short(p.Base), short(p.Head))
	fmt.Fprintf(b, "| nodes changed | workloads added | workloads changed | workloads removed | download |\n")
	fmt.Fprintf(b, "|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(b, "| %d of %d | %d | %d | %d | %s |\n\n", s.NodesChanged, s.Nodes, s.WorkloadsAdded, s.WorkloadsChanged, s.WorkloadsRemoved, p.download())
	if len(p.Errors) > 0 {
		fmt.Fprintf(b, "> [!CAUTION]\n> %d %s in head: the nodes concerned refuse this revision and keep what they run.\n", len(p.Errors), plural(len(p.Errors), "error"))
		for _, e := range p.Errors {
			fmt.Fprintf(b, "> - `%s`\n", mdCode(e.String()))
		}
		b.WriteString("\n")
	}
	if len(p.Unreachable) > 0 {
		fmt.Fprintf(b, "> [!WARNING]\n> %d image %s not checked: the registry could not be reached.\n", len(p.Unreachable), plural(len(p.Unreachable), "reference"))
		for _, e := range p.Unreachable {
			fmt.Fprintf(b, "> - `%s`\n", mdCode(e.String()))
		}
		b.WriteString("\n")
	}
	if lines := imageCheckLines(p.ImageChecks); len(lines) > 0 {
		fmt.Fprintf(b, "%s\n\n", mdEscape(lines[0]))
	}
	if len(p.Nodes) == 0 {
		b.WriteString("No node changes.\n\n")
	}
	if len(p.Images) > 0 {
		b.WriteString("| image to download | nodes | image size |\n|---|---:|---:|\n")
		for _, im := range p.Images {
			fmt.Fprintf(b, "| `%s` | %d | %s |\n", shortRef(im.Ref), im.Nodes, mdCell(imageSize(im)+signatureSuffix(im)))
		}
		b.WriteString("\n")
	}
	// Nodes with the same changes share a block.
	type block struct {
		nodes []string
		body  string
		title string
	}
	var blocks []*block
	byBody := map[string]*block{}
	for _, n := range p.Nodes {
		var body strings.Builder
		for _, e := range n.Errors {
			fmt.Fprintf(&body, "- :x: `%s`\n", mdCode(e.String()))
		}
		for _, line := range detailLines(n) {
			fmt.Fprintf(&body, "%s\n", mdDetail(line))
		}
		key := nodeSuffix(n) + "\n" + body.String()
		blk, ok := byBody[key]
		if !ok {
			blk = &block{body: body.String(), title: nodeSuffix(n)}
			byBody[key] = blk
			blocks = append(blocks, blk)
		}
		blk.nodes = append(blk.nodes, n.Name)
	}
	for i, blk := range blocks {
		names := blk.nodes
		more := ""
		if len(names) > 8 {
			more = fmt.Sprintf(" and %d more", len(names)-8)
			names = names[:8]
		}
		section := fmt.Sprintf("<details><summary><b>%s</b>%s%s</summary>\n\n%s\n",
			strings.Join(names, "</b>, <b>"), more, mdEscape(blk.title), blk.body)
		if len(blk.nodes) > 8 {
			section += fmt.Sprintf("All %d nodes: %s\n\n", len(blk.nodes), strings.Join(blk.nodes, ", "))
		}
		section += "</details>\n\n"
		if b.Len()+len(section) > maxMarkdown {
			fmt.Fprintf(b, "… %d more blocks left out to fit a comment: run `fleetctl plan` or use `--output json`.\n\n", len(blocks)-i)
			break
		}
		b.WriteString(section)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(b, "<sub>%s</sub><br>\n", mdEscape(n))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// signatureSuffix says how the image's check went, after its size.
func signatureSuffix(im ImageInfo) string {
	if im.Signature == "" {
		return ""
	}
	return ", signature " + im.Signature
}

func (p *Plan) download() string {
	if p.Summary.DownloadComplete {
		return formatBytes(p.Summary.DownloadBytes)
	}
	return "at least " + formatBytes(p.Summary.DownloadBytes)
}

// nodeSuffix is what follows a node's name in a heading.
func nodeSuffix(n NodePlan) string {
	var parts []string
	if n.File != "" {
		parts = append(parts, "nodes/"+n.Name+".yaml "+n.File)
	}
	if len(n.Errors) > 0 {
		parts = append(parts, "refuses head")
	}
	for _, c := range []struct {
		n    int
		verb string
	}{{len(n.Added), "added"}, {len(n.Changed), "changed"}, {len(n.Removed), "removed"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.verb))
		}
	}
	if len(n.Added)+len(n.Changed) > 0 {
		dl := "download " + formatBytes(n.Bytes)
		if len(n.Unknown) > 0 {
			dl = fmt.Sprintf("download at least %s (%d %s of unknown size)", formatBytes(n.Bytes), len(n.Unknown), plural(len(n.Unknown), "image"))
		}
		parts = append(parts, dl)
	}
	for _, w := range n.Waves {
		parts = append(parts, fmt.Sprintf("wave %d %s of %s", w.Index+1, w.Wave, w.Group))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

// detailLines describes a node's changes, one line each, prefixed with
// "+ ", "~ ", "- " or four spaces (a field of the change above).
func detailLines(n NodePlan) []string {
	var out []string
	for _, a := range n.Added {
		out = append(out, fmt.Sprintf("+ %s (%s)", a.Name, shortRef(a.Image)))
	}
	for _, c := range n.Changed {
		out = append(out, "~ "+c.Name)
		for _, f := range c.Fields {
			old, now := f.Old, f.New
			if f.Field == "image" {
				old, now = shortRef(old), shortRef(now)
			}
			out = append(out, fmt.Sprintf("    %s: %s → %s", f.Field, old, now))
		}
	}
	for _, r := range n.Removed {
		out = append(out, fmt.Sprintf("- %s (%s)", r.Name, shortRef(r.Image)))
	}
	return out
}

// mdDetail renders a detail line as a markdown list item (a field as an
// item of the list below its workload).
func mdDetail(line string) string {
	switch {
	case strings.HasPrefix(line, "+ "):
		return "- **added** " + mdNameRef(line[2:])
	case strings.HasPrefix(line, "~ "):
		return "- **changed** `" + mdCode(line[2:]) + "`"
	case strings.HasPrefix(line, "- "):
		return "- **removed** " + mdNameRef(line[2:])
	}
	field, rest, _ := strings.Cut(strings.TrimSpace(line), ": ")
	old, now, _ := strings.Cut(rest, " → ")
	return fmt.Sprintf("  - `%s`: `%s` → `%s`", mdCode(field), mdCode(old), mdCode(now))
}

func mdNameRef(s string) string {
	name, ref, _ := strings.Cut(s, " ")
	return "`" + mdCode(name) + "` " + "`" + mdCode(strings.Trim(ref, "()")) + "`"
}

func imageSize(im ImageInfo) string {
	if im.Error != "" {
		return "unknown: " + im.Error
	}
	return formatBytes(im.Bytes)
}

// short abbreviates a commit hash.
func short(rev string) string {
	if len(rev) == 40 {
		return rev[:12]
	}
	return rev
}

// shortRef abbreviates the digest of a reference to 12 hex digits.
func shortRef(ref string) string {
	i := strings.LastIndex(ref, "@sha256:")
	if i < 0 || len(ref) < i+8+12 {
		return ref
	}
	return ref[:i+8+12]
}

// formatBytes writes n in B, kB, MB or GB (powers of 1000, as registries
// and download tools report).
func formatBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

// mdCode makes s safe inside a `code span` of one line.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "`", "'")
	return strings.ReplaceAll(s, "\n", " ")
}

// mdCell makes s safe in a table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(mdEscape(s), "|", "\\|")
}

// mdEscape escapes what markdown and HTML would interpret in prose.
func mdEscape(s string) string {
	r := strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", "\\*", "_", "\\_", "`", "\\`", "\n", " ")
	return r.Replace(s)
}
