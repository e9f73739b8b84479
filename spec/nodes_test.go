package spec_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

func nodeFile(name, labels, extra string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(`apiVersion: gitfleet.dev/v1alpha1
kind: Node
metadata: {name: ` + name + `, labels: {` + labels + `}}
` + extra)}
}

// TestParseNodesLeavesBrokenFilesOut: ParseForNode on node a ignores the
// other nodes' files; ParseNodes reads them all, and each broken one is left
// out with its errors while the others count.
func TestParseNodesLeavesBrokenFilesOut(t *testing.T) {
	fsys := fstest.MapFS{
		"fleet.yaml":                  {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec: {hostPaths: [/data]}\n")},
		"workloads/app.yaml":          {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: app}\nspec:\n  image: r.example/app@" + digestA + "\n")},
		"nodes/a.yaml":                nodeFile("a", "line: x", ""),
		"nodes/b.yaml":                nodeFile("b", "line: x", ""),
		"nodes/bad-yaml.yaml":         {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: bad-yaml, labels: {line: x}\n")},
		"nodes/unknown-field.yaml":    nodeFile("unknown-field", "line: x", "spec: {colour: red}\n"),
		"nodes/unknown-workload.yaml": nodeFile("unknown-workload", "line: x", "spec: {workloads: [nope]}\n"),
		"nodes/wrong-name.yaml":       nodeFile("other", "line: x", ""),
		"nodes/twice.yaml":            nodeFile("twice", "line: x", ""),
		"nodes/twice.yml":             nodeFile("twice", "line: x", ""),
		"nodes/Bad_Name.yaml":         nodeFile("Bad_Name", "line: x", ""),
		"nodes/README.md":             {Data: []byte("not a node")},
	}
	if _, err := spec.Parse(fsys); err == nil {
		t.Fatal("Parse of the whole repo succeeded; the fixture must be broken for Parse")
	}
	repo, err := spec.ParseForNode(fsys, "a")
	if err != nil {
		t.Fatalf("ParseForNode(a): %v", err)
	}
	nodes, broken, err := repo.ParseNodes(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(nodes)), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("nodes = %v, want %v", got, want)
	}
	if nodes["b"].Metadata.Labels["line"] != "x" {
		t.Errorf("b's labels = %v", nodes["b"].Metadata.Labels)
	}
	var files []string
	for _, e := range joined(broken) {
		var se *spec.Error
		if !errors.As(e, &se) {
			t.Fatalf("broken holds %T %v, want *spec.Error", e, e)
		}
		files = append(files, se.File)
	}
	for _, f := range []string{"nodes/bad-yaml.yaml", "nodes/unknown-field.yaml", "nodes/unknown-workload.yaml", "nodes/wrong-name.yaml", "nodes/twice.yml", "nodes/Bad_Name.yaml"} {
		if !slices.Contains(files, f) {
			t.Errorf("broken lacks %s: %v", f, broken)
		}
	}
	if strings.Contains(broken.Error(), "nodes/a.yaml") || strings.Contains(broken.Error(), "nodes/b.yaml") {
		t.Errorf("broken names a good file: %v", broken)
	}
}

func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
