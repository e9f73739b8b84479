package main

import (
	"os"
	"strings"
)

// keptHeadings are sections of the results file that other programs write
// (`make chaos`: package chaos); a full run keeps them as they were.
var keptHeadings = []string{"## Chaos\n"}

// keptSections returns the kept sections of the results file at out, each
// from its heading to the next "## " heading, for appending.
func keptSections(out string) string {
	doc, err := os.ReadFile(out)
	if err != nil {
		return ""
	}
	text := string(doc)
	var b strings.Builder
	for _, h := range keptHeadings {
		i := strings.Index(text, h)
		if i < 0 || (i > 0 && text[i-1] != '\n') {
			continue
		}
		end := len(text)
		if j := strings.Index(text[i+len(h):], "\n## "); j >= 0 {
			end = i + len(h) + j + 1
		}
		b.WriteString("\n" + strings.TrimRight(text[i:end], "\n") + "\n")
	}
	return b.String()
}
