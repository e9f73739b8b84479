package main

import "testing"

func TestReplaceSection(t *testing.T) {
	doc := "# results\n\nintro\n\n## A\n\nold a\n\n## B\n\nold b\n"
	for _, c := range []struct{ name, heading, md, want string }{
		{"middle", "## A", "## A\n\nnew a\n", "# results\n\nintro\n\n## A\n\nnew a\n\n## B\n\nold b\n"},
		{"last", "## B", "## B\n\nnew b\n", "# results\n\nintro\n\n## A\n\nold a\n\n## B\n\nnew b\n"},
		{"missing", "## C", "## C\n\nc\n", doc + "\n## C\n\nc\n"},
	} {
		if got := replaceSection(doc, c.heading, c.md); got != c.want {
			t.Errorf("%s:\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}
