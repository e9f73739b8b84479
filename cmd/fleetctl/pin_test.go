package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// TestPin pins tags in a workload (plain, with a comment after it), a
// group override (double-quoted) and a node override (single-quoted, no
// tag): only those lines change and the repo then validates.
func TestPin(t *testing.T) {
	host := ocitest.NewRegistry(t)
	ocitest.Push(t, modelImage(t, `{"v":1}`), host+"/models/detector:v1")
	ocitest.Push(t, modelImage(t, `{"v":2}`), host+"/models/detector:v2")
	ocitest.Push(t, modelImage(t, `{"v":3}`), host+"/models/detector:latest")
	dir := t.TempDir()
	files := map[string]string{
		"fleet.yaml": "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: plant}\nspec:\n  registries:\n    - {host: \"HOST\", plainHTTP: true}\n",
		"workloads/detector.yaml": `# The detector.
apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata:
  name: detector
spec:
  image: HOST/models/detector:v1   # release 1
  args: ["--threshold", "0.5"]
`,
		"groups/line-a.yaml": `apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: line-a}
spec:
  selector: {matchLabels: {line: a}}
  workloads: [detector]
  overrides:
    detector: {image: "HOST/models/detector:v2", env: {A: "1"}}
`,
		"nodes/press-01.yaml": `apiVersion: gitfleet.dev/v1alpha1
kind: Node
metadata: {name: press-01, labels: {line: a}}
spec:
  overrides:
    detector:
      image: 'HOST/models/detector'
`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(content, "HOST", host)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := fleetctl(t, "validate", dir); r.code != 1 {
		t.Fatalf("unpinned repo validates: %s", r.stdout)
	}
	r := fleetctl(t, "pin", dir, "--dry-run")
	if r.code != 0 {
		t.Fatalf("pin --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	golden(t, "pin/dry-run.diff.golden", strings.ReplaceAll(r.stdout, host, "REGISTRY"))
	if got, _ := os.ReadFile(filepath.Join(dir, "workloads/detector.yaml")); !strings.Contains(string(got), ":v1   # release 1") {
		t.Fatalf("--dry-run wrote:\n%s", got)
	}
	if r := fleetctl(t, "pin", dir); r.code != 0 || strings.Count(r.stdout, "pinned ") != 3 {
		t.Fatalf("pin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for name, content := range files {
		before := strings.Split(strings.ReplaceAll(content, "HOST", host), "\n")
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		after := strings.Split(string(got), "\n")
		if len(after) != len(before) {
			t.Fatalf("%s: %d lines, want %d", name, len(after), len(before))
		}
		changed := 0
		for i := range before {
			if before[i] != after[i] {
				changed++
				if !strings.Contains(after[i], "@sha256:") || strings.Replace(after[i], after[i][strings.Index(after[i], "@sha256:"):strings.Index(after[i], "@sha256:")+72], "", 1) != before[i] {
					t.Errorf("%s:%d: %q → %q", name, i+1, before[i], after[i])
				}
			}
		}
		if want := map[bool]int{true: 0, false: 1}[name == "fleet.yaml"]; changed != want {
			t.Errorf("%s: %d lines changed, want %d", name, changed, want)
		}
	}
	if r := fleetctl(t, "validate", dir); r.code != 0 {
		t.Errorf("pinned repo does not validate:\n%s", r.stdout)
	}
	if r := fleetctl(t, "pin", dir); r.code != 0 || !strings.Contains(r.stdout, "every image is pinned") {
		t.Errorf("second pin: exit %d\n%s", r.code, r.stdout)
	}
}

// TestPinUnknownTag: a tag the registry does not have is reported, exit 1.
func TestPinUnknownTag(t *testing.T) {
	host := ocitest.NewRegistry(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "workloads"), 0o755)
	os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: p}\nspec:\n  registries: [{host: \""+host+"\", plainHTTP: true}]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "workloads/x.yaml"), []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: x}\nspec:\n  image: "+host+"/models/x:nope\n"), 0o644)
	r := fleetctl(t, "pin", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "workloads/x.yaml:5: spec.image: resolve") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
