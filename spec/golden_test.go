package spec_test

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/tools/txtar"
	"sigs.k8s.io/yaml"

	"github.com/gitfleet/gitfleet/spec"
)

var update = flag.Bool("update", false, "rewrite the want section of testdata/*.txtar")

// wantFile is the section of a golden archive that holds the expected
// output; every other section is a file of the fleet repo.
const wantFile = "want"

// TestGolden parses each fleet repo in testdata/*.txtar and compares what
// it prints with the archive's want section. The archive's comment holds
// directives, one a line:
//
//	node NAME        use ParseForNode(NAME) instead of Parse
//	resolve NAME [k=v,...]  resolve NAME with these local labels
//	fleet            print the Fleet spec, defaults applied
//	groups           print each Group's spec
//
// Without a resolve directive every node of the repo is resolved.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txtar")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, ar)
			i := slices.IndexFunc(ar.Files, func(f txtar.File) bool { return f.Name == wantFile })
			if *update {
				if i < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: wantFile})
					i = len(ar.Files) - 1
				}
				ar.Files[i].Data = []byte(got)
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if i < 0 {
				t.Fatalf("no %q section; run go test -update", wantFile)
			}
			if want := string(ar.Files[i].Data); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// run parses and resolves the repo in ar as its directives say and returns
// the report.
func run(t *testing.T, ar *txtar.Archive) string {
	t.Helper()
	fsys := archiveFS(ar)
	var node string
	var resolves [][2]string
	printFleet, printGroups := false, false
	for line := range strings.Lines(string(ar.Comment)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "node" && len(f) == 2:
			node = f[1]
		case f[0] == "resolve" && (len(f) == 2 || len(f) == 3):
			resolves = append(resolves, [2]string{f[1], strings.Join(f[2:], "")})
		case f[0] == "fleet" && len(f) == 1:
			printFleet = true
		case f[0] == "groups" && len(f) == 1:
			printGroups = true
		default:
			// Prose is allowed; a directive with wrong arguments is not.
			if f[0] == "node" || f[0] == "resolve" || f[0] == "fleet" || f[0] == "groups" {
				t.Fatalf("bad directive %q", line)
			}
		}
	}

	var b strings.Builder
	var repo *spec.Repo
	var err error
	if node != "" {
		repo, err = spec.ParseForNode(fsys, node)
	} else {
		repo, err = spec.Parse(fsys)
	}
	if err != nil {
		b.WriteString("parse errors:\n")
		writeErrors(t, &b, err)
		return b.String()
	}
	b.WriteString("parse: ok\n")
	if printFleet {
		y, err := yaml.Marshal(repo.Fleet)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("fleet:\n")
		b.Write(indent(y))
	}
	if printGroups {
		for _, name := range slices.Sorted(maps.Keys(repo.Groups)) {
			y, err := yaml.Marshal(repo.Groups[name].Spec)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "group %s:\n", name)
			b.Write(indent(y))
		}
	}
	if len(resolves) == 0 {
		for _, n := range sortedNodes(repo) {
			resolves = append(resolves, [2]string{n, ""})
		}
	}
	for _, r := range resolves {
		labels := map[string]string{}
		if r[1] != "" {
			for kv := range strings.SplitSeq(r[1], ",") {
				k, v, _ := strings.Cut(kv, "=")
				labels[k] = v
			}
		}
		fmt.Fprintf(&b, "resolve %s:\n", strings.TrimSpace(r[0]+" "+r[1]))
		ds, err := repo.Resolve(r[0], labels)
		if err != nil {
			writeErrors(t, &b, err)
			continue
		}
		if len(ds) == 0 {
			b.WriteString("  (no workloads)\n")
		}
		for _, d := range ds {
			y, err := yaml.Marshal(d.Spec)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  %s %s\n", d.Name, d.Hash)
			b.Write(indent(indent(y)))
		}
	}
	return b.String()
}

// writeErrors writes each joined error on its line, checking that every
// one is a *spec.Error.
func writeErrors(t *testing.T, b *strings.Builder, err error) {
	t.Helper()
	for _, e := range leaves(err) {
		var se *spec.Error
		if !errors.As(e, &se) {
			t.Errorf("error %q is a %T, want *spec.Error", e, e)
		}
		fmt.Fprintf(b, "  %s\n", e)
	}
}

// leaves flattens errors.Join.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

func archiveFS(ar *txtar.Archive) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, f := range ar.Files {
		if f.Name != wantFile {
			fsys[f.Name] = &fstest.MapFile{Data: f.Data}
		}
	}
	return fsys
}

func sortedNodes(r *spec.Repo) []string {
	var out []string
	for n := range r.Nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func indent(b []byte) []byte {
	var out []byte
	for line := range strings.Lines(string(b)) {
		out = append(out, "  "+line...)
	}
	return out
}
