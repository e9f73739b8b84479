package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// TestTreeTextAgainstGit: treeText gives every tree of a repository as
// `git cat-file tree` does, packed (fast-import's pack) or loose, and
// nothing for a blob, a missing id or a loose tree cut short.
func TestTreeTextAgainstGit(t *testing.T) {
	r := deltaFleet(t)
	r.Write("nodes/node-0001.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: node-0001}\n")
	r.Commit("a loose commit")
	p := &packBlobs{packs: newMemPacks(osfs.New(r.Dir+"/.git"), maxMemPacks)}
	trees, loose := 0, 0
	for line := range strings.Lines(gittest.Git(t, r.Dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")) {
		id, typ, _ := strings.Cut(strings.TrimSpace(line), " ")
		text, ok := p.treeText(plumbing.NewHash(id))
		if typ != "tree" {
			if ok {
				t.Errorf("%s %s read as a tree", typ, id)
			}
			continue
		}
		trees++
		if _, err := os.Stat(filepath.Join(r.Dir, ".git", "objects", id[:2], id[2:])); err == nil {
			loose++
		}
		if want := gittest.Git(t, r.Dir, "cat-file", "tree", id); !ok || text != want {
			t.Errorf("tree %s: %d bytes (read %v), git has %d", id, len(text), ok, len(want))
		}
	}
	if trees < 6 || loose == 0 {
		t.Fatalf("%d trees, %d loose", trees, loose)
	}
	if _, ok := p.treeText(plumbing.NewHash(strings.Repeat("ab", 20))); ok {
		t.Error("a missing tree was read")
	}
	head := cutHeadTree(t, r.Dir)
	if text, ok := p.treeText(plumbing.NewHash(head)); ok {
		t.Errorf("a loose tree cut short was read: %d bytes", len(text))
	}
}
