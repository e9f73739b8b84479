package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretMarker is in files outside the repo that a PR's links point at.
const secretMarker = "SECRET-MARKER-4f1c9a"

// TestValidateNeverFollowsLinks: a PR links repo files and folders to
// files outside the repo (nodes/n1.yaml -> /etc/shadow, as a CI runner's
// secrets). validate reports each link by its repo path, fails, and never
// reads what it points at: the marker in those files appears in no output
// format, YAML errors (which quote lines) included.
func TestValidateNeverFollowsLinks(t *testing.T) {
	outside := t.TempDir()
	// Outside files that would be valid YAML, broken YAML (quoted in the
	// error) and a whole folder of workloads.
	secretNode := filepath.Join(outside, "shadow")
	write(t, secretNode, "root:$6$"+secretMarker+":19000:0:99999:7:::\n")
	secretYAML := filepath.Join(outside, "broken.yaml")
	write(t, secretYAML, "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: n2\nlabels: [\""+secretMarker+"\"\n")
	secretDir := filepath.Join(outside, "groups")
	write(t, filepath.Join(secretDir, "all.yaml"), "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: "+secretMarker+"}\nspec: {selector: {}, workloads: [\""+secretMarker+"\"]}\n")

	for _, format := range []string{outText, outJSON, outMarkdown, outGitHub} {
		t.Run(format, func(t *testing.T) {
			dir := extract(t, "warnings")
			link(t, secretNode, filepath.Join(dir, "nodes", "n1.yaml"))
			link(t, secretYAML, filepath.Join(dir, "nodes", "n2.yaml"))
			os.RemoveAll(filepath.Join(dir, "groups"))
			link(t, secretDir, filepath.Join(dir, "groups"))
			link(t, "../fleet.yaml", filepath.Join(dir, "workloads", "inside.yaml")) // a link within the repo is a link too
			t.Chdir(dir)
			r := fleetctl(t, "validate", "--output", format)
			t.Log(r.stdout + r.stderr)
			out := r.stdout + r.stderr
			if strings.Contains(out, secretMarker) {
				t.Fatalf("output quotes a file outside the repo:\n%s", out)
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1 (links are errors)\n%s", r.code, out)
			}
			for _, f := range []string{"nodes/n1.yaml", "nodes/n2.yaml", "workloads/inside.yaml", "files, got a file"} {
				if !strings.Contains(out, f) {
					t.Errorf("output does not name the link %s:\n%s", f, out)
				}
			}
			if !strings.Contains(out, "symbolic link") {
				t.Errorf("output does not say the files are symbolic links:\n%s", out)
			}
		})
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, at string) {
	t.Helper()
	os.Remove(at)
	if err := os.Symlink(target, at); err != nil {
		t.Fatal(err)
	}
}
