package source

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// deltaFleet builds a repository with git whose node files are deltas of
// each other in long chains, as git fast-import writes them (each blob a
// delta of the one before, here up to 120 deep): 400 similar node files
// rewritten over three commits; repack, if not nil, is then run on it.
// Then one commit of loose objects. It returns the repository.
func deltaFleet(t *testing.T, repack ...string) *gittest.Repo {
	t.Helper()
	r := gittest.NewRepo(t)
	node := func(i, rev int) string {
		return fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-%04d\n  labels: {site: plant-%d, line: l%d, rev: r%d}\n# %s\n", i, i%7, i%10, rev, strings.Repeat("x", i%50))
	}
	var in strings.Builder
	for rev := range 3 {
		msg := fmt.Sprintf("rev %d", rev)
		fmt.Fprintf(&in, "commit refs/heads/main\ncommitter T <t@example.com> %d +0000\ndata %d\n%s\n", 1700000000+rev, len(msg), msg)
		file := func(path, data string) { fmt.Fprintf(&in, "M 644 inline %s\ndata %d\n%s\n", path, len(data), data) }
		for i := range 400 {
			if rev == 0 || i%(rev+2) == 0 {
				file(fmt.Sprintf("nodes/node-%04d.yaml", i), node(i, rev))
			}
		}
		file("fleet.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f%d}\n", rev))
	}
	in.WriteString("done\n")
	imp := gittest.Command(r.Dir, "fast-import", "--quiet", "--depth=120", "--done")
	imp.Stdin = strings.NewReader(in.String())
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v: %s", err, out)
	}
	gittest.Git(t, r.Dir, "reset", "-q", "--hard", "main")
	if repack != nil {
		gittest.Git(t, r.Dir, append(repack, "-q", "-a", "-d")...)
	}
	for i := range 5 {
		r.Write(fmt.Sprintf("nodes/node-%04d.yaml", i), node(i, 9))
	}
	r.Write("nodes/big.bin", strings.Repeat("0123456789abcdef", 1<<12))
	r.Commit("loose")
	return r
}

// catBlobs returns every blob of the repository at dir, by id, as git
// cat-file --batch prints them.
func catBlobs(t *testing.T, dir string) map[plumbing.Hash][]byte {
	t.Helper()
	list := gittest.Git(t, dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
	var ids []string
	for line := range strings.SplitSeq(strings.TrimSpace(list), "\n") {
		if id, ok := strings.CutSuffix(line, " blob"); ok {
			ids = append(ids, id)
		}
	}
	cmd := gittest.Command(dir, "cat-file", "--batch")
	cmd.Stdin = strings.NewReader(strings.Join(ids, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(bytes.NewReader(out))
	blobs := map[plumbing.Hash][]byte{}
	for range ids {
		hdr, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(hdr)
		size, err := strconv.Atoi(f[2])
		if len(f) != 3 || err != nil {
			t.Fatalf("cat-file header %q", hdr)
		}
		data := make([]byte, size+1)
		if _, err := io.ReadFull(br, data); err != nil {
			t.Fatal(err)
		}
		blobs[plumbing.NewHash(f[0])] = data[:size]
	}
	return blobs
}

// TestPackBlobsAgainstGit reads every blob of packs git wrote, with offset
// deltas and with ref deltas, chains up to 200 deep, and compares each
// with git cat-file; loose blobs are left out for go-git.
func TestPackBlobsAgainstGit(t *testing.T) {
	for _, c := range []struct {
		name   string
		repack []string
		chain  string // verify-pack's line for the longest chain
	}{
		{"fast-import's offset deltas", nil, "chain length = 120:"},
		{"ref deltas", []string{"-c", "repack.useDeltaBaseOffset=false", "repack", "--depth=120"}, "chain length = 120:"},
		{"git repack -f", []string{"repack", "-f", "--depth=200", "--window=50"}, "chain length = 10:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := deltaFleet(t, c.repack...)
			want := catBlobs(t, r.Dir)
			loose := map[plumbing.Hash]bool{} // the last commit's blobs
			for line := range strings.SplitSeq(strings.TrimSpace(gittest.Git(t, r.Dir, "rev-list", "--objects", "--no-object-names", "HEAD~1..HEAD")), "\n") {
				if id := plumbing.NewHash(line); want[id] != nil {
					loose[id] = true
				}
			}
			chains := gittest.Git(t, r.Dir, "verify-pack", "-v", packName(t, r.Dir))
			if !strings.Contains(chains, c.chain) {
				t.Fatalf("the fixture has no %q:\n%s", c.chain, chains[strings.Index(chains, "non delta"):])
			}
			if refs := refDeltas(t, packName(t, r.Dir)); (c.repack != nil && c.repack[0] == "-c") != (refs > 0) {
				t.Fatalf("%d ref deltas in the pack", refs)
			}
			p := &packBlobs{packs: newMemPacks(osfs.New(r.Dir+"/.git"), maxMemPacks)}
			ids := slices.Collect(maps.Keys(want))
			ids = append(ids, ids[:10]...) // asked twice: read once, copied
			read := p.read(ids)
			got := map[plumbing.Hash][]byte{}
			for i, id := range ids {
				if read[i] == nil {
					continue
				}
				if b, ok := got[id]; ok && &b[0] == &read[i][0] {
					t.Errorf("%s: the same bytes given twice", id)
				}
				got[id] = read[i]
			}
			for _, id := range ids {
				b, ok := got[id]
				switch {
				case loose[id] && ok:
					t.Errorf("%s is loose but was read from a pack", id)
				case !loose[id] && !ok:
					t.Errorf("%s is packed but was not read", id)
				case ok && !bytes.Equal(b, want[id]):
					t.Errorf("%s = %q, git has %q", id, b, want[id])
				}
			}
			if n := len(want) - len(loose); len(got) != n || n < 600 {
				t.Errorf("read %d blobs of %d packed", len(got), n)
			}
			// Ids that are no blob or in no pack are left out.
			trees := strings.Fields(gittest.Git(t, r.Dir, "rev-parse", "HEAD~1^{tree}", "HEAD~1"))
			odd := []plumbing.Hash{plumbing.NewHash(trees[0]), plumbing.NewHash(trees[1]), plumbing.NewHash(strings.Repeat("ab", 20))}
			if got := p.read(odd); len(got) != len(odd) || got[0] != nil || got[1] != nil || got[2] != nil {
				t.Errorf("read a tree, a commit or a missing id: %q", got)
			}
		})
	}
}

func packName(t *testing.T, dir string) string {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("no pack: %v", err)
	}
	return packs[0]
}

// refDeltas counts the ref deltas of a pack.
func refDeltas(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pr := readPack(data)
	n, err := pr.header()
	if err != nil {
		t.Fatal(err)
	}
	refs := 0
	for range n {
		o, err := pr.next()
		if err != nil {
			t.Fatal(err)
		}
		if o.typ == plumbing.REFDeltaObject {
			refs++
		}
		if err := pr.inflate(o, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	return refs
}

// TestTreeReadFiles: ReadFiles of a local repository's folder gives what
// ReadFile gives for each regular file, packed or loose, and leaves out
// what ReadFile refuses (a link, a folder, a name that is absent).
func TestTreeReadFiles(t *testing.T) {
	r := deltaFleet(t, "repack")
	if err := os.Symlink("node-0001.yaml", filepath.Join(r.Dir, "nodes", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	r.Write("nodes/sub/x.yaml", "x")
	head := r.Commit("a link and a folder")
	repo := openLocal(t, r.Dir)
	fsys, _, err := repo.Tree(head)
	if err != nil {
		t.Fatal(err)
	}
	des, err := fs.ReadDir(fsys, "nodes")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"absent.yaml"}
	for _, de := range des {
		names = append(names, de.Name())
	}
	got := fsys.(*treeFS).ReadFiles("nodes", names)
	if len(got) != len(names) {
		t.Fatalf("%d contents for %d names", len(got), len(names))
	}
	read := 0
	for i, n := range names {
		want, err := fs.ReadFile(fsys, "nodes/"+n)
		b, ok := got[i], got[i] != nil
		if ok {
			read++
		}
		switch {
		case err != nil && ok:
			t.Errorf("%s: read %q, ReadFile fails: %v", n, b, err)
		case err == nil && !bytes.Equal(b, want):
			t.Errorf("%s = %q (read %v), ReadFile gives %q", n, b, ok, want)
		}
	}
	if read != len(names)-3 {
		t.Errorf("read %d files of %d names", read, len(names))
	}
}

// TestRepoCommitFromPacks: a commit named by its id is read from the packs
// as go-git reads it.
func TestRepoCommitFromPacks(t *testing.T) {
	r := deltaFleet(t, "repack")
	repo := openLocal(t, r.Dir)
	for _, rev := range []string{"HEAD~1", "HEAD~2", "HEAD"} { // packed, packed, loose
		id := strings.TrimSpace(gittest.Git(t, r.Dir, "rev-parse", rev))
		got, err := repo.Commit(id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := repo.repo.CommitObject(plumbing.NewHash(id))
		if err != nil {
			t.Fatal(err)
		}
		if got.Hash != want.Hash || got.TreeHash != want.TreeHash || got.Message != want.Message || fmt.Sprint(got.ParentHashes) != fmt.Sprint(want.ParentHashes) || got.Author.String() != want.Author.String() {
			t.Errorf("%s: %+v, go-git reads %+v", rev, got, want)
		}
		if fsys, hash, err := repo.Tree(id); err != nil || hash != id {
			t.Errorf("Tree(%s) = %v, %s, %v", rev, fsys, hash, err)
		}
	}
}

// openLocal opens the local repository at dir as fleetctl does.
func openLocal(t *testing.T, dir string) *Repo {
	t.Helper()
	loc, err := ParseLocation(dir, Auth{})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := Open(t.Context(), loc, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// Loose objects (the last commit's, written after the pack) are read as
// git reads them: type and content against `git cat-file`, for a commit,
// its trees and its blobs. A missing or damaged one is left to go-git.
func TestPackBlobsReadsLooseObjects(t *testing.T) {
	r := deltaFleet(t)
	p := &packBlobs{packs: newMemPacks(osfs.New(r.Dir+"/.git"), maxMemPacks)}
	list := gittest.Git(t, r.Dir, "rev-list", "--objects", "--no-object-names", "HEAD~1..HEAD")
	n := 0
	for id := range strings.FieldsSeq(list) {
		file := filepath.Join(r.Dir, ".git", "objects", id[:2], id[2:])
		if _, err := os.Stat(file); err != nil {
			continue // also in the pack
		}
		n++
		typ := strings.TrimSpace(gittest.Git(t, r.Dir, "cat-file", "-t", id))
		want := gittest.Git(t, r.Dir, "cat-file", typ, id)
		o, ok := p.object(plumbing.NewHash(id))
		if !ok {
			t.Errorf("loose %s %s not read", typ, id)
			continue
		}
		if o.typ.String() != typ || !bytes.Equal(o.data, []byte(want)) {
			t.Errorf("loose %s: %s of %d bytes, git has %s of %d", id, o.typ, len(o.data), typ, len(want))
		}
	}
	if n < 3 {
		t.Fatalf("the fixture has %d loose objects; want its last commit's", n)
	}
	if _, ok := p.object(plumbing.NewHash(strings.Repeat("ab", 20))); ok {
		t.Error("a missing object was read")
	}
	// A loose object cut short is not read (go-git then says why).
	head := cutHeadTree(t, r.Dir)
	if o, ok := p.object(plumbing.NewHash(head)); ok {
		t.Errorf("a loose tree cut short was read: %d bytes", len(o.data))
	}
}

// cutHeadTree cuts the loose object of the head commit's tree in the
// repository at dir to half its length and returns the tree's id.
func cutHeadTree(t *testing.T, dir string) string {
	t.Helper()
	head := strings.TrimSpace(gittest.Git(t, dir, "rev-parse", "HEAD^{tree}"))
	file := filepath.Join(dir, ".git", "objects", head[:2], head[2:])
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(file, 0o644)
	if err := os.WriteFile(file, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	return head
}
