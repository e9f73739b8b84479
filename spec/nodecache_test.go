package spec_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
)

// cacheFleet is a fleet repo of n nodes as a git fixture: node n00 is the
// agent's; n01 overrides app with a mount under the fleet's hostPaths and
// a secret file of its own; n02 names workload extra, which does not exist
// yet; n03 does not parse.
func cacheFleet(t *testing.T, n int) *gittest.Repo {
	t.Helper()
	r := gittest.NewRepo(t)
	r.Write("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec: {hostPaths: [/data]}\n")
	r.Write("workloads/app.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: app}\nspec:\n  image: r.example/app@"+digestA+"\n")
	r.Write("secrets/n01.age", ageFile+"one")
	for i := range n {
		name := fmt.Sprintf("n%02d", i)
		r.Write("nodes/"+name+".yaml", string(nodeFile(name, "line: x, wave: a", "").Data))
	}
	r.Write("nodes/n01.yaml", string(nodeFile("n01", "line: x", `spec:
  overrides:
    app:
      mounts: [{source: /data/models, target: /models}]
      secrets: [{name: token, file: secrets/n01.age, env: TOKEN}]
`).Data))
	r.Write("nodes/n02.yaml", string(nodeFile("n02", "line: x", "spec: {workloads: [extra]}\n").Data))
	r.Write("nodes/n03.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: n03, labels: {line: x}\n")
	r.Commit("fleet")
	return r
}

// TestNodeCacheParsesOnlyChangedFiles: an agent reading revisions of a
// fleet repo through source parses, per revision, only the node files that
// changed (and every file when what they are checked against changes), and
// gets exactly what ParseNodes without a cache returns.
func TestNodeCacheParsesOnlyChangedFiles(t *testing.T) {
	const n = 12
	ctx := context.Background()
	r := cacheFleet(t, n)
	l, err := source.ParseLocation(gittest.FileURL(r.BareDir), source.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := source.New(source.Config{Location: l, Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var c spec.NodeCache
	// step reads the head as the agent of n00 does and returns how many
	// files the cache parsed for it, checking its result against ParseNodes.
	step := func(what string) (map[string]spec.Node, int, error) {
		t.Helper()
		fsys, err := g.Tree(ctx, r.Head())
		if err != nil {
			t.Fatal(err)
		}
		repo, err := spec.ParseForNode(fsys, "n00")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		before := c.Parsed()
		nodes, broken, err := c.ParseNodes(repo, fsys)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		wantNodes, wantBroken, err := repo.ParseNodes(fsys)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(nodes, wantNodes) {
			t.Errorf("%s: cached nodes differ from ParseNodes':\n%v\nwant\n%v", what, nodes, wantNodes)
		}
		if fmt.Sprint(broken) != fmt.Sprint(wantBroken) {
			t.Errorf("%s: cached broken = %v, want %v", what, broken, wantBroken)
		}
		return nodes, c.Parsed() - before, broken
	}
	brokenFiles := func(broken error) map[string]bool {
		files := map[string]bool{}
		for _, e := range joined(broken) {
			var se *spec.Error
			if errors.As(e, &se) {
				files[se.File] = true
			}
		}
		return files
	}

	nodes, parsed, broken := step("first revision")
	if parsed != n-1 {
		t.Errorf("first revision parsed %d files, want every other node's: %d", parsed, n-1)
	}
	if len(nodes) != n-2 || !brokenFiles(broken)["nodes/n02.yaml"] || !brokenFiles(broken)["nodes/n03.yaml"] {
		t.Fatalf("first revision: %d nodes, broken %v; want all but n02 and n03", len(nodes), broken)
	}
	if got := string(nodes["n01"].Spec.Overrides["app"].Secrets[0].Data); got != ageFile+"one" {
		t.Errorf("n01's secret = %q", got)
	}

	r.Write("nodes/n05.yaml", string(nodeFile("n05", "line: x, wave: b", "").Data))
	r.Commit("move n05")
	nodes, parsed, broken = step("one node file changed")
	if parsed != 1 || nodes["n05"].Metadata.Labels["wave"] != "b" {
		t.Errorf("one node file changed: parsed %d files, n05's labels %v; want 1 and wave b", parsed, nodes["n05"].Metadata.Labels)
	}
	if !brokenFiles(broken)["nodes/n03.yaml"] {
		t.Errorf("n03 not broken any more without a change: %v", broken)
	}

	r.Write("workloads/app.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: app}\nspec:\n  image: r.example/app@"+digestA+"\n  env: {A: b}\n")
	r.Commit("app's env")
	if _, parsed, _ = step("no node file changed"); parsed != 0 {
		t.Errorf("no node file changed: parsed %d files, want 0", parsed)
	}

	r.Write("secrets/n01.age", ageFile+"two")
	r.Commit("n01's secret")
	if nodes, parsed, _ = step("a node's secret changed"); parsed != 1 || string(nodes["n01"].Spec.Overrides["app"].Secrets[0].Data) != ageFile+"two" {
		t.Errorf("a node's secret changed: parsed %d files, want 1 (n01)", parsed)
	}

	r.Write("workloads/extra.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: extra}\nspec:\n  image: r.example/extra@"+digestA+"\n")
	r.Commit("workload extra")
	nodes, parsed, broken = step("a workload added")
	if parsed != n-1 {
		t.Errorf("a workload added: parsed %d files, want all %d again", parsed, n-1)
	}
	if _, ok := nodes["n02"]; !ok || brokenFiles(broken)["nodes/n02.yaml"] {
		t.Errorf("a workload added: n02, which names it, still left out: %v", broken)
	}

	r.Write("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec: {hostPaths: [/srv]}\n")
	r.Commit("hostPaths")
	nodes, parsed, broken = step("hostPaths changed")
	if parsed != n-1 {
		t.Errorf("hostPaths changed: parsed %d files, want all %d again", parsed, n-1)
	}
	if _, ok := nodes["n01"]; ok || !brokenFiles(broken)["nodes/n01.yaml"] {
		t.Errorf("hostPaths changed: n01, whose mount is now outside them, still counts: %v", broken)
	}

	r.Remove("nodes/n04.yaml")
	r.Write("nodes/n99.yaml", string(nodeFile("n99", "line: x", "").Data))
	r.Commit("n04 leaves, n99 joins")
	nodes, parsed, _ = step("a node replaced")
	if _, ok := nodes["n04"]; ok || parsed != 1 {
		t.Errorf("a node replaced: parsed %d, n04 still there: %v; want 1 parse and no n04", parsed, ok)
	}
}

// TestNodeCacheWithoutIDs: on a tree without content ids the cache parses
// every file each time, with ParseNodes' result.
func TestNodeCacheWithoutIDs(t *testing.T) {
	r := cacheFleet(t, 4)
	var fsys fs.FS = os.DirFS(r.Dir)
	repo, err := spec.ParseForNode(fsys, "n00")
	if err != nil {
		t.Fatal(err)
	}
	var c spec.NodeCache
	for range 2 {
		nodes, _, err := c.ParseNodes(repo, fsys)
		if err != nil || len(nodes) != 2 {
			t.Fatalf("nodes %v, %v; want n00 and n01", nodes, err)
		}
	}
	if c.Parsed() != 2*3 {
		t.Errorf("parsed %d files in two calls, want every other node's file twice: 6", c.Parsed())
	}
}
