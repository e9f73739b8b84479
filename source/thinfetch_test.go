package source_test

import (
	"context"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

// A node's fetch of a change carries what changed, not the fleet's other
// node files: git sends a shallow fetch incrementally only as a thin pack,
// whose deltas name objects the node has (its own file's last version)
// or does not keep (another node's). Each change reads as git has it.
func TestNodeFetchOfAChangeIsIncremental(t *testing.T) {
	r := gittest.NewRepo(t)
	first := importFleet(t, r.BareDir, bigFleet(2000))
	url, proxy := gittest.ProxyURL(t, gittest.ServeHTTP(t, r.BareParent, "", "")+"/"+r.Name)
	node := "node-00500"
	g := newGit(t, source.Config{Location: loc(t, url), Node: node})
	ctx := context.Background()
	if _, err := g.Tree(ctx, first); err != nil {
		t.Fatal(err)
	}
	whole, _ := proxy.Take()
	for i, change := range []map[string]string{
		{"workloads/detector.yaml": "kind: Workload\nmetadata: {name: detector}\n# 1\n"},
		// This node's file and others, nearly alike: deltas against their
		// last versions, which the node keeps for its own file only.
		{"nodes/" + node + ".yaml": "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: " + node + "\n  labels: {site: plant-2, line: l0}\n",
			"nodes/node-00501.yaml": "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-00501\n  labels: {site: plant-2, line: l1}\n",
			"nodes/node-01999.yaml": "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-01999\n  labels: {site: plant-9, line: l9}\n"},
		{"groups/line-a.yaml": "kind: Group\nmetadata: {name: line-a}\n# 3\n"},
	} {
		rev := importFleet(t, r.BareDir, change)
		if _, err := g.Head(ctx); err != nil {
			t.Fatal(err)
		}
		proxy.Take()
		fsys, err := g.Tree(ctx, rev)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := proxy.Take()
		for _, f := range []string{"fleet.yaml", "workloads/detector.yaml", "groups/line-a.yaml", "nodes/" + node + ".yaml"} {
			if got, want := readFile(t, fsys, f), goGitFile(t, r.BareDir, rev, f); got != want {
				t.Errorf("change %d: %s = %q, want %q (go-git)", i+1, f, got, want)
			}
		}
		if got*10 > whole {
			t.Errorf("change %d: the fetch took %d B, the first sync of %d node files %d B: want a tenth at most", i+1, got, 2000, whole)
		}
		t.Logf("change %d: %d B (first sync %d B)", i+1, got, whole)
	}
}
