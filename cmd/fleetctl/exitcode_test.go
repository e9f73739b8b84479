package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
)

// TestExitCodes: a refusal or an invalid input exits 1, a server that
// cannot be reached exits 3, for every command that reads a registry or a
// repository.
func TestExitCodes(t *testing.T) {
	down := fmt.Sprintf("127.0.0.1:%d", porttest.Port(t)) // nobody listens
	downRepo := "http://" + down + "/fleet.git"
	host := ocitest.NewRegistry(t)
	_, pub := keyPair(t, nil)
	unsigned := ocitest.RandomImage(t, host, "models/unsigned")
	f := newFixture(t)
	_, sshPub := sshKey(t)
	trustDir := t.TempDir()
	os.WriteFile(filepath.Join(trustDir, "allowed_signers"), []byte("ops@example.com "+sshPub+"\n"), 0o644)

	// pin: a tag the registry lacks is refused; a registry that is down
	// unreachable.
	unpinned := func(ref string) string {
		dir := t.TempDir()
		for name, body := range map[string]string{
			"fleet.yaml":         "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: x}\nspec:\n  registries: [{host: \"" + strings.SplitN(ref, "/", 2)[0] + "\", plainHTTP: true}]\n",
			"workloads/det.yaml": "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: det}\nspec:\n  image: " + ref + "\n",
		} {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
			os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
		}
		return dir
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"verify image refused", []string{"verify", "image", unsigned, "--key", pub, "--plain-http"}, 1, "refused"},
		{"verify image unreachable", []string{"verify", "image", down + "/models/x@sha256:" + strings.Repeat("ab", 32), "--key", pub, "--plain-http"}, 3, down},
		{"verify commit unreachable", []string{"verify", "commit", "main", "--repo", downRepo, "--trust", trustDir}, 3, down},
		{"validate invalid", []string{"validate", unpinned(host + "/models/x:v1")}, 1, "error"},
		{"validate unreachable", []string{"validate", "--repo", downRepo, "--rev", "main"}, 3, down},
		{"plan", []string{"plan", "--repo", f.repo.Dir, "--base", f.base, "--head", f.head, "--offline"}, 0, ""},
		{"plan unreachable", []string{"plan", "--repo", downRepo, "--base", "main~1", "--head", "main"}, 3, down},
		{"status unreachable", []string{"status", "--repo", downRepo}, 3, down},
		{"pin unknown tag", []string{"pin", unpinned(host + "/models/nosuch:v1")}, 1, "not pinned"},
		{"pin unreachable", []string{"pin", unpinned(down + "/models/x:v1")}, 3, "unreachable"},
		{"pin no such folder", []string{"pin", "/nonexistent/fleet"}, 1, "/nonexistent/fleet"},
		{"validate no such folder", []string{"validate", "/nonexistent/fleet"}, 1, "/nonexistent/fleet"},
	} {
		r := fleetctl(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: fleetctl %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.name, strings.Join(tc.args, " "), r.code, tc.code, tc.want, r.stdout, r.stderr)
		}
	}
}
