package health

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps health light: spec, fault and the standard library only
// (exec probes reach containerd through the Execer interface).
func TestDependencies(t *testing.T) {
	const pkg = "github.com/gitfleet/gitfleet/health"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == pkg, dep == "github.com/gitfleet/gitfleet/spec", dep == "github.com/gitfleet/gitfleet/fault",
			strings.HasPrefix(dep, "sigs.k8s.io/yaml"), strings.HasPrefix(dep, "go.yaml.in/yaml/"):
		default:
			t.Errorf("health imports %s; only spec, fault and the standard library are allowed", dep)
		}
	}
}
