package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// extract writes the files of testdata/validate/name.txtar into a new
// folder and returns it.
func extract(t *testing.T, name string) string {
	t.Helper()
	ar, err := txtar.ParseFile(filepath.Join(testdata, "validate", name+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range ar.Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestValidateGolden(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		args    []string
		code    int
	}{
		{"broken", nil, 1},
		{"broken", []string{"--output", "github"}, 1},
		{"broken", []string{"--output", "json"}, 1},
		{"unresolved", nil, 1},
		{"warnings", nil, 0},
		{"warnings", []string{"--strict"}, 1},
		{"warnings", []string{"--output", "markdown"}, 0},
		{"warnings", []string{"--output", "github"}, 0},
	} {
		name := tc.fixture + strings.ReplaceAll(strings.Join(tc.args, ""), "--output", "-")
		t.Run(name, func(t *testing.T) {
			dir := extract(t, tc.fixture)
			t.Chdir(dir)
			r := fleetctl(t, append([]string{"validate"}, tc.args...)...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			golden(t, "validate/"+name+".golden", r.stdout+"--- stderr\n"+r.stderr)
		})
	}
}

// TestValidateExample checks that the example repo is clean, from a folder
// and from a git revision.
func TestValidateExample(t *testing.T) {
	r := fleetctl(t, "validate", "--strict", exampleRepo)
	if r.code != 0 {
		t.Fatalf("validate examples/fleet-repo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	g := gittest.NewRepo(t)
	writeExample(t, g, "127.0.0.1:5000", nil)
	g.Write("workloads/defect-classifier.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: defect-classifier}\nspec: {image: x:latest}\n")
	bad := g.Commit("unpinned")
	r = fleetctl(t, "validate", "--repo", g.BareDir, "--rev", bad, "--output", "json")
	var rep struct {
		Errors []struct {
			File, Field, Message string
			Line                 int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s%s", err, r.stdout, r.stderr)
	}
	if r.code != 1 || len(rep.Errors) != 1 || rep.Errors[0].File != "workloads/defect-classifier.yaml" || rep.Errors[0].Line != 4 || rep.Errors[0].Field != "spec.image" {
		t.Errorf("exit %d, errors %+v", r.code, rep.Errors)
	}
	// The bare repository by URL, fetched into memory.
	r = fleetctl(t, "validate", "--repo", gittest.FileURL(g.BareDir), "--rev", "main~0")
	if r.code != 1 || !strings.Contains(r.stdout, "workloads/defect-classifier.yaml:4: spec.image: must be pinned by digest") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
