package reconciler

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependenciesPointInward keeps the architecture honest: the pure
// packages and the reconciler never import an adapter or a heavy library.
func TestDependenciesPointInward(t *testing.T) {
	allowed := map[string][]string{
		"github.com/gitfleet/gitfleet/spec":       {"sigs.k8s.io/yaml", "go.yaml.in/yaml/"},
		"github.com/gitfleet/gitfleet/status":     {"sigs.k8s.io/yaml", "go.yaml.in/yaml/"},
		"github.com/gitfleet/gitfleet/rollout":    {"sigs.k8s.io/yaml", "go.yaml.in/yaml/", "github.com/gitfleet/gitfleet/spec", "github.com/gitfleet/gitfleet/status"},
		"github.com/gitfleet/gitfleet/fault":      {},
		"github.com/gitfleet/gitfleet/reconciler": {"sigs.k8s.io/yaml", "go.yaml.in/yaml/", "github.com/gitfleet/gitfleet/spec", "github.com/gitfleet/gitfleet/status", "github.com/gitfleet/gitfleet/rollout", "github.com/gitfleet/gitfleet/fault"},
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == pkg || hasAnyPrefix(dep, ok) {
				continue
			}
			t.Errorf("%s imports %s; only the standard library and %v are allowed", pkg, dep, ok)
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
