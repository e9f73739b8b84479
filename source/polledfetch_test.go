package source_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

// A node's Tree of the head its poll just returned fetches that commit in
// one request, without asking for the branch again; a head the branch has
// left since is still fetched (the poll gave it), and one the server no
// longer has ends as before, in ErrRevisionNotFound after asking for the
// branch.
func TestTreeFetchesThePolledHead(t *testing.T) {
	r, first := fleetRepo(t)
	var log gittest.RequestLog
	url := gittest.ServeHTTPWith(t, r.BareParent, gittest.HTTPOptions{Requests: &log}) + "/" + r.Name
	g := newGit(t, source.Config{Location: loc(t, url), Node: "press-01"})
	ctx := context.Background()
	poll := func(want string) {
		t.Helper()
		head, err := g.Head(ctx)
		if err != nil || head != want {
			t.Fatalf("Head = %s, %v; want %s", head, err, want)
		}
	}
	tree := func(rev, file, want string) []string {
		t.Helper()
		log.Take()
		fsys, err := g.Tree(ctx, rev)
		if err != nil {
			t.Fatalf("Tree(%s): %v", rev, err)
		}
		if got := readFile(t, fsys, file); got != want {
			t.Fatalf("%s at %s = %q, want %q", file, rev, got, want)
		}
		return log.Take()
	}
	fetchOnly := []string{"POST /" + r.Name + "/git-upload-pack"}

	poll(first)
	if reqs := tree(first, "nodes/press-01.yaml", "kind: Node\nmetadata: {name: press-01}\n"); !slices.Equal(reqs, fetchOnly) {
		t.Errorf("first sync after a poll: requests %q, want %q", reqs, fetchOnly)
	}
	r.Write("fleet.yaml", "two\n")
	two := r.Commit("two")
	poll(two)
	if reqs := tree(two, "fleet.yaml", "two\n"); !slices.Equal(reqs, fetchOnly) {
		t.Errorf("a change after a poll: requests %q, want %q", reqs, fetchOnly)
	}

	// The branch moves on between the poll and the fetch: the polled
	// commit is what the node gets.
	r.Write("fleet.yaml", "three\n")
	three := r.Commit("three")
	poll(three)
	r.Write("fleet.yaml", "four\n")
	r.Commit("four")
	if reqs := tree(three, "fleet.yaml", "three\n"); !slices.Equal(reqs, fetchOnly) {
		t.Errorf("the branch moved after the poll: requests %q, want %q", reqs, fetchOnly)
	}

	// The branch is forced back and the polled commit pruned on the server.
	r.Write("fleet.yaml", "five\n")
	five := r.Commit("five")
	poll(five)
	r.Reset(first)
	r.ForcePush()
	r.BareGit("reflog", "expire", "--expire=now", "--all")
	r.BareGit("gc", "-q", "--prune=now")
	log.Take()
	_, err := g.Tree(ctx, five)
	if !errors.Is(err, source.ErrRevisionNotFound) {
		t.Fatalf("Tree(pruned polled head) = %v, want ErrRevisionNotFound", err)
	}
	if reqs := log.Take(); len(reqs) < 2 {
		t.Errorf("a polled head the server lost: requests %q, want the branch asked for after the fetch failed", reqs)
	}
}
