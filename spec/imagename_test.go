package spec

import (
	"regexp"
	"strings"
	"testing"
)

// The grammar of an image reference as regular expressions, after
// github.com/distribution/reference: what isImageName and isRepoPath
// replaced, and must agree with.
const (
	domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domainName      = domainComponent + `(?:\.` + domainComponent + `)*`
	ipv6Address     = `\[[a-fA-F0-9:]+\]`
	imageHost       = `(?:` + domainName + `|` + ipv6Address + `)(?::[0-9]+)?`
	pathComponent   = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	imageNameExpr   = `(?:` + imageHost + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
	imageTag        = `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
)

var (
	imageNameRE = regexp.MustCompile(`^` + imageNameExpr + `(?::` + imageTag + `)?$`)
	repoPathRE  = regexp.MustCompile(`^` + pathComponent + `(?:/` + pathComponent + `)*$`)
)

var imageNameSamples = []string{
	"", "a", "A", "nginx", "nginx:1.25", "nginx:", ":1", "library/nginx", "docker.io/library/nginx:latest",
	"registry.example.com/models/detector:v1.2", "registry.example.com:5000/models/detector", "localhost:5000/m",
	"localhost/m", "localhost:/m", "localhost:x/m", "localhost:5000:1/m", "Registry.Example.COM/m", "-r.com/m", "r-.com/m",
	"r..com/m", ".r.com/m", "r.com./m", "r.com/M", "r.com/m/", "r.com//m", "/m", "m/", "a_b", "a__b", "a___b", "a-b", "a--b",
	"a.b", "a..b", "a._b", "a-_b", "a_-b", "a.-b", "_a", "a_", "-a", "a-", ".a", "a.", "[::1]/m", "[::1]:5000/m:tag",
	"[::1]", "[::1]:5000", "[]/m", "[::g]/m", "[::1/m", "[::1]x/m", "[::1]:/m", "[fe80::1%eth0]/m", "[AB:cd::1]/m",
	"host:5000/a/b/c:t", "a/b:c:d", "a:b/c", "a:1/b", "a/b:" + strings.Repeat("t", 128), "a/b:" + strings.Repeat("t", 129),
	"a:.t", "a:-t", "a:_t", "a:t.-_", "a:t/x", "a:t@x", "é/m", "m/é", "m:é", "a b", "a\n", "a:b\n", "r.com:5000",
	"r.com:5000/m:5000", "1.2.3.4/m", "1.2.3.4:80/m", "x/y/z/w", "ghcr.io/org/model-a_b.c__d---e:sha-1234",
	strings.Repeat("a/", 100) + "a", strings.Repeat("a.", 100) + "com/m",
}

func TestImageNameAgreesWithItsGrammar(t *testing.T) {
	for _, s := range imageNameSamples {
		if got, want := isImageName(s), imageNameRE.MatchString(s); got != want {
			t.Errorf("isImageName(%q) = %v, want %v", s, got, want)
		}
		if got, want := isRepoPath(s), repoPathRE.MatchString(s); got != want {
			t.Errorf("isRepoPath(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestImageName(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"registry.example.com:5000/models/detector:v1", true},
		{"[2001:db8::1]:5000/models/detector", true},
		{"models/detector", true},
		{"Models/detector", true}, // "Models" reads as a host
		{"models/Detector", false},
		{"models//detector", false},
		{"models/detector:", false},
		{"models/de--tector", true},
		{"models/de___tector", false},
		{"host:port/models", false},
	} {
		if got := isImageName(c.s); got != c.want {
			t.Errorf("isImageName(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

func FuzzImageName(f *testing.F) {
	for _, s := range imageNameSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isImageName(s), imageNameRE.MatchString(s); got != want {
			t.Errorf("isImageName(%q) = %v, want %v", s, got, want)
		}
		if got, want := isRepoPath(s), repoPathRE.MatchString(s); got != want {
			t.Errorf("isRepoPath(%q) = %v, want %v", s, got, want)
		}
	})
}

// TestImageNameAgreesOnShortStrings compares the check with the grammar
// on every string up to five bytes long over the bytes that matter.
func TestImageNameAgreesOnShortStrings(t *testing.T) {
	const alphabet = "aZ1-_.:/[]"
	buf := make([]byte, 0, 5)
	var walk func()
	walk = func() {
		s := string(buf)
		if got, want := isImageName(s), imageNameRE.MatchString(s); got != want {
			t.Fatalf("isImageName(%q) = %v, want %v", s, got, want)
		}
		if got, want := isRepoPath(s), repoPathRE.MatchString(s); got != want {
			t.Fatalf("isRepoPath(%q) = %v, want %v", s, got, want)
		}
		if len(buf) == cap(buf) {
			return
		}
		for i := range len(alphabet) {
			buf = append(buf, alphabet[i])
			walk()
			buf = buf[:len(buf)-1]
		}
	}
	walk()
}
