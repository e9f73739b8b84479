package source_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

// bigFleetNodes makes the nodes/ tree larger than what the source holds
// whole in memory or reads whole from a pack (hundreds of KiB), and the
// node files, nearly alike, are stored as deltas of one another.
const bigFleetNodes = 7000

// importFleet commits files on top of the bare repository's main with git
// fast-import and returns the commit.
func importFleet(t *testing.T, bare string, files map[string]string, deletes ...string) string {
	t.Helper()
	cmd := gittest.Command(bare, "fast-import", "--quiet")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(in)
	msg := fmt.Sprintf("%d files", len(files))
	fmt.Fprintf(w, "commit refs/heads/main\ncommitter T <t@gitfleet.invalid> 1700000000 +0000\ndata %d\n%s\n", len(msg), msg)
	if out, err := gittest.Command(bare, "rev-parse", "-q", "--verify", "refs/heads/main").Output(); err == nil {
		fmt.Fprintf(w, "from %s", out)
	}
	for _, d := range deletes {
		fmt.Fprintf(w, "D %s\n", d)
	}
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range files {
			if !yield(p) {
				return
			}
		}
	}) {
		fmt.Fprintf(w, "M 644 inline %s\ndata %d\n%s\n", p, len(files[p]), files[p])
	}
	w.WriteString("done\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git fast-import: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(gittest.Git(t, bare, "rev-parse", "refs/heads/main"))
}

func bigFleet(nodes int) map[string]string {
	files := map[string]string{
		"fleet.yaml":              "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: big}\n",
		"workloads/detector.yaml": "kind: Workload\nmetadata: {name: detector}\n",
		"groups/line-a.yaml":      "kind: Group\nmetadata: {name: line-a}\n",
		"trust/allowed_signers":   "ops@example.com ssh-ed25519 AAAA\n",
		"nodes/sub/inner.yaml":    "kind: Node\n",
		"nodes/node-1.yml":        "kind: Node\nmetadata: {name: node-1}\n",
	}
	for i := range nodes {
		files[fmt.Sprintf("nodes/node-%05d.yaml", i)] = fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-%05d\n  labels: {site: plant-%d, line: l%d}\n", i, i%7, i%10)
	}
	return files
}

// goGitFile reads path at commit rev of the bare repository with go-git.
func goGitFile(t *testing.T, bare, rev, path string) string {
	t.Helper()
	f, err := goGitTree(t, bare, rev).File(path)
	if err != nil {
		t.Fatalf("go-git %s: %v", path, err)
	}
	s, err := f.Contents()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goGitTree(t *testing.T, bare, rev string) *object.Tree {
	t.Helper()
	repo, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(rev))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// looseObjects counts the objects a store holds loose.
func looseObjects(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	ents, _ := os.ReadDir(filepath.Join(dir, "objects"))
	for _, e := range ents {
		if e.IsDir() && len(e.Name()) == 2 {
			objs, _ := os.ReadDir(filepath.Join(dir, "objects", e.Name()))
			n += len(objs)
		}
	}
	return n
}

// TestNodeFetch checks an agent's fetch (Config.Node) of a large fleet
// over each transport that fetches: what it reads equals what go-git reads
// from the server's repository, the other nodes' files stay on the server,
// an update brings the changed files, and another node on the same state
// directory reads its own file.
func TestNodeFetch(t *testing.T) {
	r := gittest.NewRepo(t)
	first := importFleet(t, r.BareDir, bigFleet(bigFleetNodes))
	urls := map[string]string{
		"file":   gittest.FileURL(r.BareDir),
		"http":   gittest.ServeHTTP(t, r.BareParent, "", "") + "/" + r.Name,
		"daemon": gittest.ServeDaemon(t, r.BareParent) + "/" + r.Name,
	}
	agentFiles := []string{"fleet.yaml", "workloads/detector.yaml", "groups/line-a.yaml", "trust/allowed_signers"}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range urls {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			node := "node-03500"
			g := newGit(t, source.Config{Location: loc(t, urls[name]), Dir: dir, Node: node})
			fsys, err := g.Tree(ctx, first)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range append(agentFiles, "nodes/"+node+".yaml") {
				if got, want := readFile(t, fsys, f), goGitFile(t, r.BareDir, first, f); got != want {
					t.Errorf("%s = %q, want %q (go-git)", f, got, want)
				}
			}
			des, err := fs.ReadDir(fsys, "nodes")
			if err != nil {
				t.Fatal(err)
			}
			nodesTree, err := goGitTree(t, r.BareDir, first).Tree("nodes")
			if err != nil {
				t.Fatal(err)
			}
			if len(des) != len(nodesTree.Entries) {
				t.Errorf("nodes/ lists %d entries, go-git %d", len(des), len(nodesTree.Entries))
			}
			if _, err := fs.Stat(fsys, "nodes/node-99999.yaml"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat of a missing node: err = %v, want ErrNotExist", err)
			}
			if n := looseObjects(t, dir); n > 50 {
				t.Errorf("the store holds %d objects for a commit of %d files", n, bigFleetNodes)
			}
			if packs, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack")); len(packs) != 0 {
				t.Errorf("the store holds packs %v after a node's fetch", packs)
			}
			// Rollout waves read the other nodes' files: they are fetched
			// then, the whole commit at once.
			for _, f := range []string{"nodes/node-00001.yaml", "nodes/node-06999.yaml", "nodes/sub/inner.yaml"} {
				if got, want := readFile(t, fsys, f), goGitFile(t, r.BareDir, first, f); got != want {
					t.Errorf("%s = %q, want %q (go-git)", f, got, want)
				}
			}

			// An update that touches this node, another node and a
			// workload: the server sends what changed since first.
			next := importFleet(t, r.BareDir, map[string]string{
				"nodes/" + node + ".yaml": "kind: Node\nmetadata: {name: " + node + ", labels: {line: b}}\n",
				"nodes/node-00002.yaml":   "kind: Node\nmetadata: {name: node-00002}\n",
				"workloads/new.yaml":      "kind: Workload\nmetadata: {name: new}\n",
			}, "groups/line-a.yaml")
			t.Cleanup(func() { gittest.Git(t, r.BareDir, "update-ref", "refs/heads/main", first) })
			fsys, err = g.Tree(ctx, next)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"fleet.yaml", "workloads/new.yaml", "nodes/" + node + ".yaml", "trust/allowed_signers"} {
				if got, want := readFile(t, fsys, f), goGitFile(t, r.BareDir, next, f); got != want {
					t.Errorf("after the update %s = %q, want %q (go-git)", f, got, want)
				}
			}
			if _, err := fs.Stat(fsys, "groups/line-a.yaml"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("deleted groups/line-a.yaml: err = %v, want ErrNotExist", err)
			}

			// Another node on the same state directory (a renamed agent).
			other := newGit(t, source.Config{Location: loc(t, urls[name]), Dir: dir, Node: "node-1"})
			fsys, err = other.Tree(ctx, next)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := readFile(t, fsys, "nodes/node-1.yml"), goGitFile(t, r.BareDir, next, "nodes/node-1.yml"); got != want {
				t.Errorf("node-1 reads %q, want %q", got, want)
			}
		})
	}
}

// TestLargeTreeLookup checks the lookup in a tree too large to decode
// whole against go-git's own: each name's id and mode, and names that are
// absent, prefixes of present ones or sort next to them.
func TestLargeTreeLookup(t *testing.T) {
	r := gittest.NewRepo(t)
	rev := importFleet(t, r.BareDir, bigFleet(bigFleetNodes))
	g := newGit(t, source.Config{Location: loc(t, gittest.FileURL(r.BareDir))})
	fsys, err := g.Tree(context.Background(), rev)
	if err != nil {
		t.Fatal(err)
	}
	hasher, ok := fsys.(interface{ FileHash(string) (string, error) })
	if !ok {
		t.Fatal("the tree FS has no FileHash")
	}
	nodes, err := goGitTree(t, r.BareDir, rev).Tree("nodes")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"node-1.yml", "node-1.yaml", "node-", "node-0000", "node-00000.yam", "node-00000.yaml", "sub", "sub/inner.yaml",
		"node-06999.yaml", "node-07000.yaml", "zzz", "a", "node-03500.yaml/x"}
	for i := 0; i < bigFleetNodes; i += 97 {
		names = append(names, fmt.Sprintf("node-%05d.yaml", i))
	}
	for _, n := range names {
		got, err := hasher.FileHash("nodes/" + n)
		want, werr := nodes.FindEntry(n)
		if werr != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("nodes/%s: got %q, %v; go-git: %v", n, got, err, werr)
			}
			continue
		}
		if err != nil || got != want.Hash.String() {
			t.Errorf("nodes/%s = %q, %v; want %s (go-git)", n, got, err, want.Hash)
		}
	}
	fi, err := fs.Stat(fsys, "nodes/sub")
	if err != nil || !fi.IsDir() {
		t.Errorf("nodes/sub: %v, %v; want a folder", fi, err)
	}
}
