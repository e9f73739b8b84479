package trust

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps trust an adapter of go-git objects only: of this
// module it may import fault and durable alone (durable writes the node's
// status key crash-safe; never source, the git adapter, whose
// history it reaches through History; nor the reconciler, whose interface it
// satisfies; nor another adapter), and no registry or containerd library.
func TestDependencies(t *testing.T) {
	const pkg = "github.com/gitfleet/gitfleet/trust"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == pkg, dep == "github.com/gitfleet/gitfleet/fault", dep == "github.com/gitfleet/gitfleet/durable":
		case strings.HasPrefix(dep, "github.com/gitfleet/"),
			strings.HasPrefix(dep, "github.com/google/go-containerregistry"),
			strings.HasPrefix(dep, "github.com/containerd/"):
			t.Errorf("trust imports %s", dep)
		}
	}
}
