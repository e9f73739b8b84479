package plan

import (
	"bytes"
	"regexp"
	"strings"
)

// labelPair finds "key: value" in a node file's bytes as labelPattern's
// regular expression does, by looking only where the key occurs: the
// expression starts with an alternation, so the regexp package tries it at
// every byte of every file.
type labelPair struct {
	k, v string
	re   *regexp.Regexp // the pattern, used when k or v is empty or holds spaces
}

func newLabelPair(k, v string) labelPair {
	p := labelPair{k: k, v: v}
	if k == "" || v == "" || strings.ContainsFunc(k+v, isSpaceRune) {
		p.re = labelPattern(k, v)
	}
	return p
}

// match reports whether labelPattern(k, v) matches b.
func (p labelPair) match(b []byte) bool {
	if p.re != nil {
		return p.re.Match(b)
	}
	k := []byte(p.k)
	for off := 0; ; {
		i := bytes.Index(b[off:], k)
		if i < 0 {
			return false
		}
		i += off
		off = i + 1
		end := i + len(k)
		// The key plain, or inside a pair of the same quotes.
		if before(b, i) && p.rest(b, end) {
			return true
		}
		if i > 0 && end < len(b) && (b[i-1] == '\'' || b[i-1] == '"') && b[end] == b[i-1] && before(b, i-1) && p.rest(b, end+1) {
			return true
		}
	}
}

// before: the pattern may start at i (the start of a line or text, or
// after a space, '{' or ',').
func before(b []byte, i int) bool {
	return i == 0 || isSpace(b[i-1]) || b[i-1] == '{' || b[i-1] == ','
}

// rest matches `\s*:\s*` and the value, plain or quoted, and what may
// follow it, from j.
func (p labelPair) rest(b []byte, j int) bool {
	j = skipSpace(b, j)
	if j >= len(b) || b[j] != ':' {
		return false
	}
	j = skipSpace(b, j+1)
	v := p.v
	if bytes.HasPrefix(b[j:], []byte(v)) && after(b, j+len(v)) {
		return true
	}
	for _, q := range []string{"'", `"`} {
		if bytes.HasPrefix(b[j:], []byte(q+v+q)) && after(b, j+len(v)+2) {
			return true
		}
	}
	return false
}

// after: `\s*(?:$|[\s,}#])` matches at j.
func after(b []byte, j int) bool {
	return j == len(b) || isSpace(b[j]) || b[j] == ',' || b[j] == '}' || b[j] == '#'
}

func skipSpace(b []byte, j int) int {
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	return j
}

// isSpace is the regexp package's \s: [\t\n\f\r ].
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func isSpaceRune(r rune) bool { return r < 0x80 && isSpace(byte(r)) || r == '\v' }
