package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
)

// lineOf returns the 1-based line of file (in dir) that contains s.
func lineOf(t *testing.T, dir, file, s string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", file, s)
	return 0
}

// TestCheckImages: validate --check-images and plan verify every image as
// fleetd does before a pull. Signed images pass; an unsigned image and a
// digest the registry does not have are refused with file, line and field
// (exit 1); a registry that is down is unreachable (exit 3).
func TestCheckImages(t *testing.T) {
	f := newFixture(t)
	r := fleetctl(t, "validate", "--check-images", f.repo.Dir, "-o", "json")
	var rep struct {
		Images []struct{ Image, File, Field, Result string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("signed fleet: exit %d (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	// Two workloads and line A's override.
	if len(rep.Images) != 3 {
		t.Errorf("checked %d image references, want 3: %+v", len(rep.Images), rep.Images)
	}
	for _, c := range rep.Images {
		if c.Result != "verified" {
			t.Errorf("%s %s: %s, want verified", c.File, c.Field, c.Result)
		}
	}

	unsigned := ocitest.RandomImage(t, f.host, "models/vibration-anomaly")
	madeUp := f.host + "/models/defect-classifier@sha256:" + strings.Repeat("cd", 32)
	vib := readFile(t, filepath.Join(f.repo.Dir, "workloads/vibration-anomaly.yaml"))
	f.repo.Write("workloads/vibration-anomaly.yaml", strings.Replace(vib, f.vibration, unsigned, 1))
	la := readFile(t, filepath.Join(f.repo.Dir, "groups/line-a.yaml"))
	f.repo.Write("groups/line-a.yaml", strings.Replace(la, strings.Replace(f.v2, "@", ":v2@", 1), madeUp, 1))
	bad := f.repo.Commit("unsigned vibration model, made-up defect digest")
	wantRefused := []string{
		fmt.Sprintf("workloads/vibration-anomaly.yaml:%d: spec.image: image %s refused: ", lineOf(t, f.repo.Dir, "workloads/vibration-anomaly.yaml", unsigned), unsigned),
		fmt.Sprintf("groups/line-a.yaml:%d: spec.overrides.defect-classifier.image: image %s refused: ", lineOf(t, f.repo.Dir, "groups/line-a.yaml", madeUp), madeUp),
	}
	r = fleetctl(t, "validate", "--check-images", f.repo.Dir)
	if r.code != 1 {
		t.Errorf("validate with refused images: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range wantRefused {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("validate output lacks %q:\n%s", w, r.stdout)
		}
	}
	r = fleetctl(t, "plan", "--repo", f.repo.Dir, "--base", f.base, "--head", bad)
	if r.code != 1 {
		t.Errorf("plan with refused images: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range wantRefused {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("plan output lacks %q:\n%s", w, r.stdout)
		}
	}
	// Without --check-images validate does not read registries.
	if r := fleetctl(t, "validate", f.repo.Dir); r.code != 0 {
		t.Errorf("validate without --check-images: exit %d\n%s", r.code, r.stdout)
	}

	// A registry nobody listens on: unreachable, exit 3, not refused.
	down := fmt.Sprintf("127.0.0.1:%d", porttest.Port(t))
	g := gittest.NewRepo(t)
	writeExample(t, g, down, nil)
	g.Commit("example")
	r = fleetctl(t, "validate", "--check-images", g.Dir)
	if r.code != 3 || !strings.Contains(r.stdout, "unreachable: workloads/defect-classifier.yaml:") || !strings.Contains(r.stdout, "0 errors") {
		t.Errorf("registry down: exit %d, want 3 and unreachable per image\n%s%s", r.code, r.stdout, r.stderr)
	}
}
