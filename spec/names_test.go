package spec

import (
	"regexp"
	"strings"
	"testing"
)

// The regular expressions the hand-written name checks replaced: the
// checks must accept exactly what these match.
var nameGrammars = []struct {
	name  string
	re    *regexp.Regexp
	check func(string) bool
}{
	{"dnsLabel", regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`), isDNSLabel},
	{"envName", regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`), isEnvName},
	{"labelName", regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`), isLabelName},
	{"dnsSubdomain", regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`), isDNSSubdomain},
	{"sha256Digest", regexp.MustCompile(`^sha256:[a-f0-9]{64}$`), IsSHA256Digest},
}

var nameSamples = []string{
	"", "a", "A", "0", "-", "_", ".", "a-", "-a", "a-b", "a--b", "a_b", "a.b", "a..b", ".a", "a.", "_a", "a_",
	"Ab", "aB", "9a", "a9", "node-00001", "line-a", "LOG_LEVEL", "log_level", "_X", "1X", "x y", "x\n", "\nx",
	"é", "aé", "example.com", "sub.example.com", "Example.com", "ex-.com", "-ex.com", "ex..com", "ex.com.",
	"a.b-c.d", "a/b", "a:b", "a\x00", "a b", "a\tb", "A-_.z", "A-_.", "z.9",
	"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("0123456789abcdef", 4),
	"sha256:" + strings.Repeat("a", 63), "sha256:" + strings.Repeat("a", 65), "sha256:" + strings.Repeat("A", 64),
	"sha256:" + strings.Repeat("g", 64), "sha512:" + strings.Repeat("a", 64), "sha256" + strings.Repeat("a", 65),
	"sha256:" + strings.Repeat("a", 63) + "\n", " sha256:" + strings.Repeat("a", 64),
	strings.Repeat("a", 300), strings.Repeat("a.", 40) + "a",
}

func TestNameChecksAgreeWithTheirGrammars(t *testing.T) {
	for _, g := range nameGrammars {
		for _, s := range nameSamples {
			if got, want := g.check(s), g.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, want %v as %s", g.name, s, got, want, g.re)
			}
		}
	}
}

func TestNameChecks(t *testing.T) {
	for _, c := range []struct {
		check func(string) bool
		s     string
		want  bool
	}{
		{isDNSLabel, "node-1", true},
		{isDNSLabel, "Node-1", false},
		{isDNSLabel, "node-", false},
		{isDNSSubdomain, "gitfleet.io", true},
		{isDNSSubdomain, "gitfleet..io", false},
		{isLabelName, "line.A_1", true},
		{isLabelName, "line.", false},
		{isEnvName, "_LOG_LEVEL2", true},
		{isEnvName, "2LOG", false},
		{IsSHA256Digest, "sha256:" + strings.Repeat("0f", 32), true},
		{IsSHA256Digest, "sha256:" + strings.Repeat("0F", 32), false},
	} {
		if got := c.check(c.s); got != c.want {
			t.Errorf("check(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

func FuzzNameChecks(f *testing.F) {
	for _, s := range nameSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, g := range nameGrammars {
			if got, want := g.check(s), g.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, want %v as %s", g.name, s, got, want, g.re)
			}
		}
	})
}
