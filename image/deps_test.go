package image

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyAdapterImportsGGCR keeps image the one registry adapter:
// go-containerregistry is imported by no other package of the module
// (test files aside), but for the test helpers that build and serve
// images.
func TestOnlyAdapterImportsGGCR(t *testing.T) {
	const ggcr = "github.com/google/go-containerregistry"
	allowed := map[string]bool{
		"github.com/gitfleet/gitfleet/image":               true,
		"github.com/gitfleet/gitfleet/internal/ocitest":    true,
		"github.com/gitfleet/gitfleet/internal/imagebuild": true,
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/gitfleet/gitfleet/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list found %d packages; want the whole module", len(lines))
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, ggcr) && !allowed[fields[0]] {
				t.Errorf("%s imports %s: reach registries through package image", fields[0], imp)
			}
		}
	}
}
