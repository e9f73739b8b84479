package chaos

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

const section = "## Chaos: fleetd killed at random points"

// writeResults replaces (or appends) the chaos section of the markdown file.
func writeResults(t *testing.T, file string, seed uint64, converged map[string][2]int) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n`make chaos` (seed %d): SIGKILL of fleetd --once at a random moment (0–%v) of the pass that applies a change, then one more pass; converged means the head runs, the report says applied with no error and no rollback, and there is no orphan, duplicate or missing container.\n\n", section, seed, maxKillDelay)
	b.WriteString("| change | kill points | converged |\n|---|---|---|\n")
	var names []string
	for k := range converged {
		names = append(names, k)
	}
	sort.Strings(names)
	total, ok := 0, 0
	for _, k := range names {
		c := converged[k]
		ok, total = ok+c[0], total+c[1]
		fmt.Fprintf(&b, "| %s | %d | %d (%.0f %%) |\n", k, c[1], c[0], 100*float64(c[0])/float64(c[1]))
	}
	fmt.Fprintf(&b, "| all | %d | %d (%.0f %%) |\n", total, ok, 100*float64(ok)/float64(max(total, 1)))
	old, _ := os.ReadFile(file)
	text := string(old)
	if i := strings.Index(text, section); i >= 0 {
		rest := text[i+len(section):]
		end := len(text)
		if j := strings.Index(rest, "\n## "); j >= 0 {
			end = i + len(section) + j + 1
		}
		text = text[:i] + b.String() + "\n" + text[end:]
	} else {
		text = strings.TrimRight(text, "\n") + "\n\n" + b.String()
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Error(err)
	}
}
