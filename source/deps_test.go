package source_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyGitAdapter: go-git is imported by this package and trust/ (the
// commit rules read go-git's objects) and by nothing else of the module, and
// no program code copies trees into testing/fstest. Test code may use both.
func TestOnlyGitAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/gitfleet/gitfleet/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/gitfleet/gitfleet/source": true,
		"github.com/gitfleet/gitfleet/trust":  true,
	}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := fields[0]
		for _, imp := range fields[1:] {
			switch {
			case strings.HasPrefix(imp, "github.com/go-git/") && !allowed[pkg]:
				t.Errorf("%s imports %s: reach git through the source package", pkg, imp)
			case imp == "testing/fstest" && !strings.HasSuffix(pkg, "test"):
				t.Errorf("%s imports testing/fstest outside tests", pkg)
			}
		}
	}
}
