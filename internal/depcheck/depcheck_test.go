// Package depcheck holds the tests that keep the architecture as
// DESIGN.md draws it: pure packages stay pure, each heavy library is
// wrapped by one adapter, and no file grows past what one concept needs.
package depcheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/gitfleet/gitfleet/"

// pkg is what `go list -json` says of one package of the module.
type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
	Deps       []string
	GoFiles    []string
	TestGoFiles,
	XTestGoFiles []string
}

func listModule(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; the module has more", len(pkgs))
	}
	return pkgs
}

// TestPurePackagesStayPure: spec and status are data, the reconciler and
// the decision packages import nothing heavier than them (transitively).
func TestPurePackagesStayPure(t *testing.T) {
	yaml := []string{"sigs.k8s.io/yaml", "go.yaml.in/yaml/"}
	allowed := map[string][]string{
		"spec":       yaml,
		"status":     yaml,
		"fault":      nil,
		"durable":    nil,
		"rollout":    append([]string{module + "spec", module + "status"}, yaml...),
		"health":     append([]string{module + "spec", module + "status", module + "fault"}, yaml...),
		"reconciler": append([]string{module + "spec", module + "status", module + "rollout", module + "fault", module + "durable"}, yaml...),
	}
	for _, p := range listModule(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		ok, pure := allowed[rel]
		if !pure {
			continue
		}
		delete(allowed, rel)
		for _, dep := range p.Deps {
			if isStd(dep) || hasAnyPrefix(dep, ok) {
				continue
			}
			t.Errorf("%s depends on %s; only the standard library and %v are allowed", rel, dep, ok)
		}
	}
	for rel := range allowed {
		t.Errorf("package %s not found: update this test with the architecture", rel)
	}
}

// TestOneAdapterPerSystem: each heavy library is imported by production
// code of one adapter only (test helpers excepted), so there is one way to
// each outside system.
func TestOneAdapterPerSystem(t *testing.T) {
	owners := []struct {
		library string
		by      []string // packages allowed to import it directly
	}{
		{"github.com/go-git/", []string{"source", "trust"}},
		{"github.com/google/go-containerregistry/", []string{"image", "internal/ocitest", "internal/imagebuild"}},
		{"github.com/containerd/", []string{"runtime", "runtime/runtimetest"}},
		{"github.com/fsnotify/", []string{"usb"}},
		{"testing/fstest", nil},
	}
	for _, p := range listModule(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		for _, imp := range p.Imports {
			for _, o := range owners {
				if strings.HasPrefix(imp, o.library) && !contains(o.by, rel) {
					t.Errorf("%s imports %s; only %v may (production code; tests are free)", rel, imp, o.by)
				}
			}
		}
	}
}

// maxLines is where a file stops holding one concept (STYLE.md).
const maxLines = 450

// TestFilesHoldOneConcept keeps every Go file, tests included, under
// maxLines lines.
func TestFilesHoldOneConcept(t *testing.T) {
	for _, p := range listModule(t) {
		files := append(append(append([]string{}, p.GoFiles...), p.TestGoFiles...), p.XTestGoFiles...)
		for _, f := range files {
			path := filepath.Join(p.Dir, f)
			n, err := countLines(path)
			if err != nil {
				t.Fatal(err)
			}
			if n > maxLines {
				t.Errorf("%s/%s: %d lines; split it by responsibility (at most %d)", strings.TrimPrefix(p.ImportPath, module), f, n, maxLines)
			}
		}
	}
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		n++
	}
	return n, s.Err()
}

// isStd reports whether an import path belongs to the standard library:
// its first element has no dot.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
