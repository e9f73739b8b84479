package source_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

// TestDeepenBringsHistory: a depth-1 fetch holds only the head; Deepen
// brings its ancestors so a verifier can walk back to the last applied one.
func TestDeepenBringsHistory(t *testing.T) {
	ctx := context.Background()
	r, first := fleetRepo(t)
	var revs []string
	for i := range 4 {
		r.Write("workloads/detector.yaml", "kind: Workload\nmetadata: {name: detector}\n# "+string(rune('a'+i))+"\n")
		revs = append(revs, r.Commit("change"))
	}
	url := gittest.ServeHTTP(t, r.BareParent, "", "") + "/" + r.Name
	g := newGit(t, source.Config{Location: loc(t, url)})
	head := revs[len(revs)-1]
	if _, err := g.Tree(ctx, head); err != nil {
		t.Fatal(err)
	}
	repo, err := g.Repository()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := object.GetCommit(repo.Storer, plumbing.NewHash(first)); !errors.Is(err, plumbing.ErrObjectNotFound) {
		t.Fatalf("first commit after a depth-1 fetch: err = %v, want not found", err)
	}
	if err := g.Deepen(ctx, 10); err != nil {
		t.Fatalf("Deepen: %v", err)
	}
	repo, err = g.Repository()
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range append([]string{first}, revs...) {
		if _, err := object.GetCommit(repo.Storer, plumbing.NewHash(rev)); err != nil {
			t.Errorf("commit %s after Deepen: %v", rev[:7], err)
		}
	}
	// The old boundary is no longer marked shallow: history reads through.
	shallows, err := repo.Storer.Shallow()
	if err != nil {
		t.Fatal(err)
	}
	if len(shallows) != 0 {
		t.Errorf("shallow commits after deepening past the root: %v", shallows)
	}
	// The tree of the head still reads, and a later fetch still works.
	r.Write("groups/line-a.yaml", "kind: Group\n# later\n")
	next := r.Commit("later")
	fsys, err := g.Tree(ctx, next)
	if err != nil {
		t.Fatalf("Tree after Deepen: %v", err)
	}
	if got := readFile(t, fsys, "groups/line-a.yaml"); got != "kind: Group\n# later\n" {
		t.Errorf("groups/line-a.yaml = %q", got)
	}
	if err := g.Deepen(ctx, 1); err == nil {
		t.Error("Deepen(1) succeeded; want an error")
	}
}
