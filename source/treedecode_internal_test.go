package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// sameAsGoGit decodes content with decodeTree and with go-git's
// object.Tree.Decode and checks that both give the same entries or the
// same error, and that finding each name (and a few others) gives what
// go-git's FindEntry gives, from any hint of findFrom too.
func sameAsGoGit(t *testing.T, content []byte) {
	t.Helper()
	o := &packedObject{id: plumbing.ComputeHash(plumbing.TreeObject, content), typ: plumbing.TreeObject, data: content}
	var want object.Tree
	werr := want.Decode(o)
	got, gerr := decodeTree(o)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%q: error %v, go-git's %v", content, gerr, werr)
	}
	if werr != nil {
		return
	}
	if len(got.entries) != len(want.Entries) || len(want.Entries) > 0 && !reflect.DeepEqual(got.entries, want.Entries) {
		t.Fatalf("%q: entries\n%v\ngo-git's\n%v", content, got.entries, want.Entries)
	}
	for i, e := range want.Entries {
		if id := got.rawID(i); id != string(e.Hash[:]) {
			t.Errorf("%q: entry %d's id %x, go-git's %s", content, i, id, e.Hash)
		}
	}
	names := []string{"absent", ".git", "..", ".", "a\x01b", "zzz", "", "GIT~1"} // one path element each, as treeFS asks
	for _, e := range want.Entries {
		names = append(names, e.Name, e.Name+"x", strings.TrimSuffix(e.Name, e.Name[len(e.Name)-1:]))
	}
	for _, n := range names {
		we, werr := want.FindEntry(n)
		ge, gerr := got.find(n)
		switch {
		case (werr == nil) != (gerr == nil) || werr != nil && !errors.Is(gerr, werr) && werr.Error() != gerr.Error():
			t.Errorf("%q: find %q: error %v, go-git's %v", content, n, gerr, werr)
		case werr == nil && *we != *ge:
			t.Errorf("%q: find %q = %v, go-git's %v", content, n, *ge, *we)
		}
		// findFrom finds the same from any hint, and says where.
		for hint := range len(got.entries) + 1 {
			fe, i, ferr := got.findFrom(n, hint)
			switch {
			case (ferr == nil) != (gerr == nil) || ferr != nil && ferr.Error() != gerr.Error():
				t.Errorf("%q: findFrom %q, %d: error %v, find's %v", content, n, hint, ferr, gerr)
			case ferr == nil && (fe != ge || &got.entries[i] != fe):
				t.Errorf("%q: findFrom %q, %d = entry %d %v, find's %v", content, n, hint, i, *fe, *ge)
			}
		}
	}
}

func rawTree(entries ...string) []byte {
	var b []byte
	for i, e := range entries {
		b = append(b, e...)
		b = append(b, 0)
		b = append(b, fmt.Sprintf("%020d", i)...)
	}
	return b
}

// TestDecodeTreeAsGoGit: every tree of a repository git wrote, and trees
// written by hand (odd modes, unsorted, malformed), decode and search as
// go-git's object.Tree does.
func TestDecodeTreeAsGoGit(t *testing.T) {
	r := deltaFleet(t)
	r.Write("nodes/sub/x.yaml", "x")
	r.Write("nodes.d/x.yaml", "x")
	r.Write("run.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(r.Dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("fleet.yaml", filepath.Join(r.Dir, "link")); err != nil {
		t.Fatal(err)
	}
	r.Commit("odd entries")
	trees := 0
	for line := range strings.SplitSeq(strings.TrimSpace(gittest.Git(t, r.Dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")), "\n") {
		id, ok := strings.CutSuffix(line, " tree")
		if !ok {
			continue
		}
		cmd := gittest.Command(r.Dir, "cat-file", "tree", id)
		content, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		sameAsGoGit(t, content)
		trees++
	}
	if trees < 6 {
		t.Fatalf("%d trees", trees)
	}
	for _, c := range [][]byte{
		nil,
		rawTree("100644 a", "40000 b", "100644 b.yaml", "160000 c", "120000 d", "100755 e", "100664 f", "0100644 g", "644 h", "1 i"),
		rawTree("100644 b", "100644 a"),              // unsorted
		rawTree("40000 a", "100644 a.b", "100644 a"), // a folder sorts as "a/"
		rawTree("100644 a", "100644 a"),              // twice
		rawTree("100644 .git", "100644 ok"),
		rawTree("10064x a"),
		rawTree("77777777777 a"),
		rawTree("37777777777 a"),
		rawTree(" a"),
		rawTree("100644 "),
		[]byte("100644 a"),
		[]byte("100644"),
		[]byte("100644 a\x00short"),
	} {
		sameAsGoGit(t, c)
	}
}

// FuzzDecodeTreeAsGoGit: any content decodes and searches as go-git's
// object.Tree does.
func FuzzDecodeTreeAsGoGit(f *testing.F) {
	f.Add(rawTree("100644 a", "40000 b", "100644 b.yaml"))
	f.Add(rawTree("100644 b", "100644 a"))
	f.Add([]byte("100644 a\x00short"))
	f.Fuzz(func(t *testing.T, content []byte) { sameAsGoGit(t, content) })
}
