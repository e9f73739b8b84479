package plan

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// TestResolveAllShares: resolving the nodes that share their groups once
// per class gives every node what resolving it on its own gives, errors
// (which name the node) included, with nodes of their own workloads or
// overrides, nodes no group selects and a group that fails on every node it
// selects.
func TestResolveAllShares(t *testing.T) {
	d := func(i int) string { return fmt.Sprintf("reg.example.com/m@sha256:%064d", i) }
	fsys, _ := fleet10k(120, "reg.example.com", d(1), d(2))
	fsys["groups/line-4.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Group\nmetadata: {name: line-4}\nspec:\n  selector: {matchLabels: {line: l4}}\n  workloads: [detector, extra]\n", spec.APIVersion))}
	fsys["workloads/extra.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Workload\nmetadata: {name: extra}\nspec:\n  image: %s\n", spec.APIVersion, d(3)))}
	fsys["groups/site-2.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Group\nmetadata: {name: site-2}\nspec:\n  selector: {matchLabels: {site: plant-2}}\n  workloads: [detector]\n  overrides:\n    detector: {env: {SITE: two}}\n", spec.APIVersion))}
	node := func(name, body string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata:\n  name: %s\n%s", spec.APIVersion, name, body))}
	}
	fsys["nodes/own.yaml"] = node("own", "  labels: {line: l3}\nspec:\n  overrides:\n    detector: {env: {A: b}}\n")
	fsys["nodes/own-workload.yaml"] = node("own-workload", "spec:\n  workloads: [detector]\n")
	fsys["nodes/alone.yaml"] = node("alone", "  labels: {line: none}\n")
	repo, err := spec.Parse(fsys)
	if err != nil {
		t.Fatal(err)
	}
	// Resolve fails on every node line-4 selects.
	delete(repo.Workloads, "extra")
	names := append(slices.Sorted(maps.Keys(repo.Nodes)), "gone") // a node of the other revision
	shared := resolveAll(repo, names, true)
	each := resolveAll(repo, names, false)
	classes, failed := map[int]bool{}, 0
	for _, n := range names {
		s, e := shared[n], each[n]
		if fmt.Sprint(s.err) != fmt.Sprint(e.err) || !reflect.DeepEqual(s.desired, e.desired) {
			t.Errorf("%s: shared %+v, %v; on its own %+v, %v", n, s.desired, s.err, e.desired, e.err)
		}
		if e.class != 0 {
			t.Errorf("%s: class %d without sharing", n, e.class)
		}
		if s.class != 0 {
			classes[s.class] = true
		}
		if e.err != nil {
			failed++
		}
	}
	if len(classes) < 3 || failed == 0 {
		t.Errorf("%d classes, %d nodes failing: the case does not test sharing", len(classes), failed)
	}
	for _, n := range []string{"own", "own-workload"} {
		if shared[n].class != 0 {
			t.Errorf("%s (spec of its own) is in class %d", n, shared[n].class)
		}
	}
}
