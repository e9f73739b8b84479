package rollout_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps rollout pure: it imports spec, status and the
// standard library only (and what those two import).
func TestDependencies(t *testing.T) {
	const pkg = "github.com/gitfleet/gitfleet/rollout"
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		switch {
		case imp == "github.com/gitfleet/gitfleet/spec", imp == "github.com/gitfleet/gitfleet/status":
		case !strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
			// The standard library.
		default:
			t.Errorf("rollout imports %s; only spec, status and the standard library are allowed", imp)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == pkg, dep == "github.com/gitfleet/gitfleet/spec", dep == "github.com/gitfleet/gitfleet/status",
			strings.HasPrefix(dep, "sigs.k8s.io/yaml"), strings.HasPrefix(dep, "go.yaml.in/yaml/"):
		default:
			t.Errorf("rollout depends on %s", dep)
		}
	}
}
