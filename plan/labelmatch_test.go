package plan

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestLabelPairAsThePattern: labelPair.match answers as labelPattern's
// regular expression on node files written every way, and on random
// bytes built from the pair's own pieces.
func TestLabelPairAsThePattern(t *testing.T) {
	pairs := [][2]string{{"line", "a"}, {"line", "l3"}, {"site", "plant-2"}, {"a.b/c", "x.y"}, {"k", "v v"}, {"", "v"}}
	files := []string{
		"metadata:\n  labels: {site: plant-1, line: a}\n",
		"metadata:\n  labels:\n    line: a\n",
		"metadata:\n  labels: {'line': \"a\"}\n",
		"metadata:\n  labels: {\"line\": 'a'}\n",
		"metadata:\n  labels: {'line\": a}\n",
		"metadata:\n  labels:\n    line:\n      a\n",
		"metadata:\n  labels: # x\n    line: a # y\n",
		"labels: {pipeline: a, line: ab}\n",
		"line: a",
		"line:a,",
		"line :a}",
		"xline: a\n",
		"{\"line\":\"a\"}",
		"line: 'a",
		"line: \"a\"x",
	}
	pieces := []string{"line", "a", "l3", "site", "plant-2", ":", " ", "\n", "\t", "'", `"`, "{", "}", ",", "#", "x", "-", "\r", "\f"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		files = append(files, b.String())
	}
	for _, p := range pairs {
		lp := newLabelPair(p[0], p[1])
		re := labelPattern(p[0], p[1])
		matched := 0
		for _, f := range files {
			want := re.MatchString(f)
			if got := lp.match([]byte(f)); got != want {
				t.Errorf("%s=%s in %q: match %v, the pattern %v", p[0], p[1], f, got, want)
			}
			if want {
				matched++
			}
		}
		if p == [2]string{"line", "a"} && matched < 10 {
			t.Errorf("%s=%s matched %d files: the inputs do not exercise it", p[0], p[1], matched)
		}
	}
}
