package plan

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// Failed reports whether the revision would be refused, or, with strict,
// whether there is any finding at all.
func (r *Report) Failed(strict bool) bool {
	return len(r.Errors) > 0 || strict && len(r.Warnings) > 0
}

// Text writes one line per finding, errors first, then a count.
func (r *Report) Text(w io.Writer) error {
	b := &strings.Builder{}
	for _, f := range r.Errors {
		fmt.Fprintf(b, "%s\n", f)
	}
	for _, f := range r.Warnings {
		fmt.Fprintf(b, "warning: %s\n", f)
	}
	for _, f := range r.Unreachable {
		fmt.Fprintf(b, "unreachable: %s\n", f)
	}
	fmt.Fprintf(b, "%s (%d %s resolved)\n", r, r.Nodes, plural(r.Nodes, "node"))
	_, err := io.WriteString(w, b.String())
	return err
}

// Markdown writes the findings as a table.
func (r *Report) Markdown(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "### Fleet validation: %s\n\n", r)
	if len(r.Errors)+len(r.Warnings)+len(r.Unreachable) > 0 {
		b.WriteString("| | file | field | problem |\n|---|---|---|---|\n")
		for _, f := range r.all() {
			icon := ":x:"
			switch f.Severity {
			case SeverityWarning:
				icon = ":warning:"
			case SeverityUnreachable:
				icon = ":grey_question:"
			}
			place := f.File
			if f.Line > 0 {
				place = fmt.Sprintf("%s:%d", f.File, f.Line)
			}
			fmt.Fprintf(b, "| %s | `%s` | `%s` | %s |\n", icon, mdCode(place), mdCode(f.Field), mdCell(f.Message))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "%d %s resolved.\n", r.Nodes, plural(r.Nodes, "node"))
	_, err := io.WriteString(w, b.String())
	return err
}

// GitHub writes GitHub Actions workflow commands (::error and ::warning
// with file and line), so findings show on the pull request's lines, then
// the count. dir is the fleet repo's folder relative to the workspace
// ("." at its root); it is put in front of every file.
func (r *Report) GitHub(w io.Writer, dir string) error {
	b := &strings.Builder{}
	for _, f := range r.all() {
		props := []string{}
		if f.File != "" {
			props = append(props, "file="+ghProperty(path.Join(dir, f.File)))
		}
		if f.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", f.Line))
		}
		title := "fleet spec"
		if f.Field != "" {
			title = f.Field
		}
		cmd := f.Severity
		if f.Severity == SeverityUnreachable {
			// GitHub knows error, warning and notice.
			cmd, title = SeverityWarning, title+" (registry unreachable)"
		}
		props = append(props, "title="+ghProperty(title))
		fmt.Fprintf(b, "::%s %s::%s\n", cmd, strings.Join(props, ","), ghData(f.Message))
	}
	fmt.Fprintf(b, "%s (%d %s resolved)\n", r, r.Nodes, plural(r.Nodes, "node"))
	_, err := io.WriteString(w, b.String())
	return err
}

// all is every finding: errors, warnings, then the unreachable.
func (r *Report) all() []Finding {
	return append(append(append([]Finding{}, r.Errors...), r.Warnings...), r.Unreachable...)
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
