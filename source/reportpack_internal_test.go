package source

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/status"
)

// statusPackRepo makes a bare repo with n status refs, each a commit whose
// tree holds status/<node>.yaml, reports alike enough for git to store
// them as delta chains; it returns the repo and the refs' commits by node.
func statusPackRepo(t *testing.T, n int) (*gittest.Repo, map[string]plumbing.Hash) {
	t.Helper()
	r := gittest.NewRepo(t)
	var in strings.Builder
	for i := range n {
		node := fmt.Sprintf("node-%03d", i)
		data := fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: %s}\nstatus:\n  appliedRevision: %040d\n  lastSeen: 2026-11-22T10:00:00Z\n  workloads:\n    - {name: model-%d, image: \"registry.example.com/m@sha256:%064d\", state: running, health: healthy}\n", node, i, i%5, i)
		msg := node + ": applied"
		fmt.Fprintf(&in, "commit refs/heads/status/%s\ncommitter %s <%s@gitfleet.invalid> 1700000000 +0000\ndata %d\n%s\nM 644 inline status/%s.yaml\ndata %d\n%s\n", node, node, node, len(msg), msg, node, len(data), data)
	}
	in.WriteString("done\n")
	cmd := gittest.Command(r.BareDir, "fast-import", "--quiet")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v: %s", err, out)
	}
	heads := map[string]plumbing.Hash{}
	for line := range strings.SplitSeq(strings.TrimSpace(r.BareGit("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/status/")), "\n") {
		id, ref, _ := strings.Cut(line, " ")
		heads[strings.TrimPrefix(ref, statusPrefix)] = plumbing.NewHash(id)
	}
	return r, heads
}

// TestReadPackMatchesGoGit reads git's own packs of status commits, with
// offset deltas and with ref deltas, and checks that the store holds what
// go-git's indexing of the same pack holds, and that every report was
// decoded as status.Unmarshal decodes its file.
func TestReadPackMatchesGoGit(t *testing.T) {
	r, heads := statusPackRepo(t, 120)
	var revs strings.Builder
	for _, h := range heads {
		revs.WriteString(h.String() + "\n")
	}
	for _, ofs := range []bool{true, false} {
		t.Run(fmt.Sprintf("ofs-delta=%v", ofs), func(t *testing.T) {
			args := []string{"pack-objects", "--stdout", "--revs", "--window=50", "--depth=50"}
			if ofs {
				args = append(args, "--delta-base-offset")
			}
			cmd := gittest.Command(r.BareDir, args...)
			cmd.Stdin = strings.NewReader(revs.String())
			pack, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := deltaKinds(t, pack); (ofs && got[plumbing.OFSDeltaObject] < 50) || (!ofs && got[plumbing.REFDeltaObject] < 50) {
				t.Fatalf("pack holds %v; the test needs deltas of its kind", got)
			}

			want := memory.NewStorage()
			if err := packfile.UpdateObjectStorage(want, bytes.NewReader(pack)); err != nil {
				t.Fatal(err)
			}
			st := newReportStore()
			st.expect(heads)
			if err := st.readPack(bytes.NewReader(pack)); err != nil {
				t.Fatal(err)
			}
			if len(st.Objects) != len(want.Objects) {
				t.Errorf("%d objects, want %d", len(st.Objects), len(want.Objects))
			}
			for id, wo := range want.Objects {
				got, err := st.EncodedObject(plumbing.AnyObject, id)
				if err != nil {
					t.Errorf("%s: %v", id, err)
					continue
				}
				if got.Type() != wo.Type() || !bytes.Equal(content(t, got), content(t, wo)) {
					t.Errorf("%s: %s of %d bytes, want %s of %d", id, got.Type(), got.Size(), wo.Type(), wo.Size())
				}
			}
			if len(st.decoded) != len(heads) {
				t.Errorf("%d reports decoded while the pack was read, want %d", len(st.decoded), len(heads))
			}
			for id, d := range st.decoded {
				b, err := want.EncodedObject(plumbing.BlobObject, id)
				if err != nil {
					t.Fatalf("decoded %s, not a blob of the pack: %v", id, err)
				}
				wantSt, err := status.Unmarshal(content(t, b))
				if err != nil || d.err != nil || d.st.Metadata.Name != wantSt.Metadata.Name || d.st.Status.AppliedRevision != wantSt.Status.AppliedRevision {
					t.Errorf("%s: decoded %+v, %v; want %+v, %v", id, d.st, d.err, wantSt, err)
				}
			}
		})
	}
}

// deltaKinds counts a pack's objects by their kind in the pack.
func deltaKinds(t *testing.T, pack []byte) map[plumbing.ObjectType]int {
	t.Helper()
	pr := streamPack(bytes.NewReader(pack))
	n, err := pr.header()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[plumbing.ObjectType]int{}
	for range n {
		o, err := pr.next()
		if err != nil {
			t.Fatal(err)
		}
		if err := pr.inflate(o, io.Discard); err != nil {
			t.Fatal(err)
		}
		kinds[o.typ]++
	}
	return kinds
}

func content(t *testing.T, o plumbing.EncodedObject) []byte {
	t.Helper()
	rd, err := o.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// packWriter writes a pack by hand, in any order of objects.
type packWriter struct {
	objs bytes.Buffer
	n    uint32
}

func (p *packWriter) object(typ plumbing.ObjectType, data []byte, ref *plumbing.Hash) {
	size := len(data)
	c := byte(typ)<<4 | byte(size&15)
	size >>= 4
	for size > 0 {
		p.objs.WriteByte(c | 0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	p.objs.WriteByte(c)
	if ref != nil {
		p.objs.Write(ref[:])
	}
	z := zlib.NewWriter(&p.objs)
	z.Write(data)
	z.Close()
	p.n++
}

func (p *packWriter) bytes() []byte {
	var b bytes.Buffer
	b.WriteString("PACK")
	b.Write([]byte{0, 0, 0, 2, byte(p.n >> 24), byte(p.n >> 16), byte(p.n >> 8), byte(p.n)})
	b.Write(p.objs.Bytes())
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// insertDelta is a git delta from base that inserts target whole.
func insertDelta(base, target []byte) []byte {
	varint := func(b []byte, v int) []byte {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		return append(b, byte(v))
	}
	d := varint(varint(nil, len(base)), len(target))
	for rest := target; len(rest) > 0; {
		n := min(len(rest), 127)
		d = append(append(d, byte(n)), rest[:n]...)
		rest = rest[n:]
	}
	return d
}

func treeEntry(mode, name string, id plumbing.Hash) []byte {
	return append([]byte(mode+" "+name+"\x00"), id[:]...)
}

// TestReadPackAnyOrder: a report that arrives before the tree naming it is
// decoded too, a ref delta whose base comes later in the pack is resolved,
// and a blob named otherwise (or a symbolic link) is not decoded.
func TestReadPackAnyOrder(t *testing.T) {
	report := []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: n1}\nstatus: {appliedRevision: abc}\n")
	other := []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: n2}\nstatus: {appliedRevision: def}\n")
	reportID := plumbing.ComputeHash(plumbing.BlobObject, report)
	otherID := plumbing.ComputeHash(plumbing.BlobObject, other)
	dir := append(treeEntry("100644", "n1.yaml", reportID), treeEntry("120000", "n2.yaml", otherID)...)
	dirID := plumbing.ComputeHash(plumbing.TreeObject, dir)
	notes := treeEntry("100644", "notes.yaml", otherID)

	var p packWriter
	p.object(plumbing.BlobObject, report, nil)                               // before its tree
	p.object(plumbing.REFDeltaObject, insertDelta(report, other), &reportID) // n2's blob, its base read already
	p.object(plumbing.REFDeltaObject, insertDelta(dir, notes), &dirID)       // a tree whose base comes later
	p.object(plumbing.TreeObject, dir, nil)
	st := newReportStore()
	st.expect(map[string]plumbing.Hash{"n1": {}, "n2": {}})
	if err := st.readPack(bytes.NewReader(p.bytes())); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		typ  plumbing.ObjectType
		data []byte
	}{{plumbing.BlobObject, report}, {plumbing.BlobObject, other}, {plumbing.TreeObject, dir}, {plumbing.TreeObject, notes}} {
		id := plumbing.ComputeHash(want.typ, want.data)
		o, err := st.EncodedObject(want.typ, id)
		if err != nil || !bytes.Equal(content(t, o), want.data) {
			t.Errorf("%s %s: %v", want.typ, id, err)
		}
	}
	d, ok := st.take(reportID)
	if !ok || d.err != nil || d.st.Metadata.Name != "n1" {
		t.Errorf("n1's report, read before its tree: %+v, %v", d, ok)
	}
	if _, ok := st.take(reportID); ok {
		t.Error("a decoded report was handed out twice")
	}
	if _, ok := st.take(otherID); ok {
		t.Error("a blob named only by a symbolic link and by notes.yaml was decoded")
	}
}

// TestReadPackRefusesBrokenPacks: a pack cut short, a delta whose base the
// pack does not hold and a delta that does not fit its base are errors.
func TestReadPackRefusesBrokenPacks(t *testing.T) {
	blob := []byte("kind: NodeStatus\n")
	missing := plumbing.ComputeHash(plumbing.BlobObject, []byte("elsewhere"))
	var whole, orphan, misfit packWriter
	whole.object(plumbing.BlobObject, blob, nil)
	orphan.object(plumbing.REFDeltaObject, insertDelta([]byte("elsewhere"), blob), &missing)
	blobID := plumbing.ComputeHash(plumbing.BlobObject, blob)
	misfit.object(plumbing.BlobObject, blob, nil)
	misfit.object(plumbing.REFDeltaObject, insertDelta([]byte("another size"), blob), &blobID)
	full := whole.bytes()
	for name, pack := range map[string][]byte{
		"cut in an object": full[:len(full)-25],
		"no checksum":      full[:len(full)-20],
		"missing base":     orphan.bytes(),
		"misfit delta":     misfit.bytes(),
	} {
		if err := newReportStore().readPack(bytes.NewReader(pack)); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
	if err := newReportStore().readPack(bytes.NewReader(full)); err != nil {
		t.Errorf("the whole pack: %v", err)
	}
}

// TestReadPackIntoBaseInStore: a ref delta against an object the store
// holds already (read by go-git, not by this reader) is resolved.
func TestReadPackIntoBaseInStore(t *testing.T) {
	base := []byte("kind: Node\nmetadata: {name: n1}\n")
	next := []byte("kind: Node\nmetadata: {name: n1, labels: {line: a}}\n")
	st := memory.NewStorage()
	o := &plumbing.MemoryObject{}
	o.SetType(plumbing.BlobObject)
	o.Write(base)
	baseID, err := st.SetEncodedObject(o)
	if err != nil {
		t.Fatal(err)
	}
	var p packWriter
	p.object(plumbing.REFDeltaObject, insertDelta(base, next), &baseID)
	var seen []plumbing.Hash
	if err := readPackInto(st, bytes.NewReader(p.bytes()), func(o *packedObject) { seen = append(seen, o.id) }); err != nil {
		t.Fatal(err)
	}
	want := plumbing.ComputeHash(plumbing.BlobObject, next)
	got, err := st.EncodedObject(plumbing.BlobObject, want)
	if err != nil || !bytes.Equal(content(t, got), next) {
		t.Errorf("the delta's object %s: %v", want, err)
	}
	if len(seen) != 1 || seen[0] != want {
		t.Errorf("seen %v, want [%s]", seen, want)
	}
}

// TestDecodedForPlainTreesOnly: a decoded report is handed out for
// status/<node>.yaml only when both trees are plain (each name once,
// status a folder, the file a regular one); any other tree is left to
// treeFS, which says what is wrong with it.
func TestDecodedForPlainTreesOnly(t *testing.T) {
	report := []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: NodeStatus\nmetadata: {name: n1}\n")
	blob := plumbing.ComputeHash(plumbing.BlobObject, report)
	concat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	plain := treeEntry("100644", "n1.yaml", blob)
	twice := concat(treeEntry("100644", "n1.yaml", blob), treeEntry("100644", "n1.yaml", blob))
	link := treeEntry("120000", "n1.yaml", blob)
	dirOf := func(tree []byte) plumbing.Hash { return plumbing.ComputeHash(plumbing.TreeObject, tree) }
	roots := map[string]struct {
		dir, root []byte
		want      bool
	}{
		"plain":              {plain, treeEntry("40000", "status", dirOf(plain)), true},
		"executable":         {treeEntry("100755", "n1.yaml", blob), treeEntry("40000", "status", dirOf(treeEntry("100755", "n1.yaml", blob))), true},
		"file twice":         {twice, treeEntry("40000", "status", dirOf(twice)), false},
		"a symbolic link":    {link, treeEntry("40000", "status", dirOf(link)), false},
		"status twice":       {plain, concat(treeEntry("40000", "status", dirOf(plain)), treeEntry("40000", "status", dirOf(plain))), false},
		"status not a tree":  {plain, treeEntry("100644", "status", dirOf(plain)), false},
		"status a submodule": {plain, treeEntry("160000", "status", dirOf(plain)), false},
	}
	for name, c := range roots {
		var p packWriter
		p.object(plumbing.TreeObject, c.root, nil)
		p.object(plumbing.TreeObject, c.dir, nil)
		p.object(plumbing.BlobObject, report, nil)
		st := newReportStore()
		st.expect(map[string]plumbing.Hash{"n1": {}})
		if err := st.readPack(bytes.NewReader(p.bytes())); err != nil {
			t.Fatal(err)
		}
		d, ok := st.decodedFor(plumbing.ComputeHash(plumbing.TreeObject, c.root), "n1")
		if ok != c.want || (ok && (d.err != nil || d.st.Metadata.Name != "n1")) {
			t.Errorf("%s: decodedFor = %+v, %v; want found %v", name, d, ok, c.want)
		}
	}
}
