package source

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// TestPackBasesFromDisk resolves every object of a real pack (git's own,
// with delta chains) the slow way, each delta base read again from the
// file as when it has left the ring, and checks that the ids it computes
// are the ids git lists for the pack.
func TestPackBasesFromDisk(t *testing.T) {
	r := gittest.NewRepo(t)
	for i := range 300 {
		r.Write(fmt.Sprintf("nodes/node-%03d.yaml", i), fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-%03d\n  labels: {site: plant-%d, line: l%d}\n", i, i%7, i%10))
	}
	r.Commit("nodes")
	for i := range 300 {
		if i%3 == 0 {
			r.Write(fmt.Sprintf("nodes/node-%03d.yaml", i), fmt.Sprintf("kind: Node\nmetadata:\n  name: node-%03d\n  labels: {line: b%d}\n", i, i))
		}
	}
	r.Commit("some nodes move")
	r.BareGit("repack", "-adfq", "--depth=50", "--window=50")
	packs, err := filepath.Glob(filepath.Join(r.BareDir, "objects", "pack", "*.pack"))
	if err != nil || len(packs) != 1 {
		t.Fatalf("packs %v, %v", packs, err)
	}
	var want []string
	deltas := 0
	for line := range strings.SplitSeq(r.BareGit("verify-pack", "-v", packs[0]), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && plumbing.IsHash(f[0]) {
			want = append(want, f[0])
			if len(f) >= 7 {
				deltas++
			}
		}
	}
	if deltas < 100 {
		t.Fatalf("the pack holds %d deltas; the test needs chains", deltas)
	}

	rd, err := openPack(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	n, err := rd.header()
	if err != nil {
		t.Fatal(err)
	}
	p := newPicker(nil, "", plumbing.ZeroHash, nil)
	lp := &lazyPack{path: packs[0]}
	defer lp.Close()
	var got []string
	for range n {
		o, err := rd.next()
		if err != nil {
			t.Fatal(err)
		}
		var data strings.Builder
		if err := rd.inflate(o, &data); err != nil {
			t.Fatal(err)
		}
		typ, content := o.typ, []byte(data.String())
		if o.typ == plumbing.OFSDeltaObject {
			p.ring = newRing() // empty: every base comes from the file
			bt, base, err := p.base(lp, o.base)
			if err != nil {
				t.Fatal(err)
			}
			if content, err = patchDelta(nil, base, content); err != nil {
				t.Fatalf("delta at %d: %v", o.offset, err)
			}
			typ = bt
		}
		got = append(got, p.hash(typ, content).String())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ids computed from the pack differ from git verify-pack's: %d vs %d", len(got), len(want))
	}
}

// TestPatchDeltaRefusesBadDeltas: a delta that reads past its base, names
// another base size or builds more or less than it declares is refused.
func TestPatchDeltaRefusesBadDeltas(t *testing.T) {
	base := []byte("0123456789")
	for name, delta := range map[string][]byte{
		"base size":      {9, 4, 0x91, 0, 4},
		"copy past base": {10, 4, 0x91, 8, 4},
		"short":          {10, 5, 0x91, 0, 4},
		"long":           {10, 3, 0x91, 0, 4},
		"insert past":    {10, 4, 4, 'a', 'b'},
		"zero command":   {10, 4, 0},
		"truncated size": {0x80},
	} {
		if _, err := patchDelta(nil, base, delta); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	got, err := patchDelta(nil, base, []byte{10, 6, 0x91, 2, 3, 3, 'a', 'b', 'c'})
	if err != nil || string(got) != "234abc" {
		t.Errorf("patchDelta = %q, %v; want 234abc", got, err)
	}
}

// FuzzPatchDelta: a delta from the network never panics, and what it
// builds has the size it declares.
func FuzzPatchDelta(f *testing.F) {
	f.Add([]byte("0123456789"), []byte{10, 6, 0x91, 2, 3, 3, 'a', 'b', 'c'})
	f.Add([]byte("x"), []byte{1, 0x80, 1, 0xb0, 0, 1})
	f.Fuzz(func(t *testing.T, base, delta []byte) {
		out, err := patchDelta(nil, base, delta)
		if err != nil {
			return
		}
		rest := delta
		_, rest, _ = deltaSize(rest)
		size, _, _ := deltaSize(rest)
		if uint64(len(out)) != size {
			t.Fatalf("built %d bytes, the delta declares %d", len(out), size)
		}
	})
}

// FuzzScanTree: a tree from the network never panics the scanner.
func FuzzScanTree(f *testing.F) {
	f.Add([]byte("100644 a.yaml\x00" + strings.Repeat("\x01", 20) + "40000 d\x00" + strings.Repeat("\x02", 20)))
	f.Fuzz(func(t *testing.T, tree []byte) {
		scanTree(strings.NewReader(string(tree)), func([]byte, filemode.FileMode, plumbing.Hash) bool { return true })
	})
}

// TestPickWhileArriving picks a node's objects from a real pack (delta
// chains longer than the ring) while it arrives in small reads, delta
// bases that left the ring read back from the part of the file already
// written, and finds the same objects as picking from the whole file.
func TestPickWhileArriving(t *testing.T) {
	r := gittest.NewRepo(t)
	for i := range 300 {
		r.Write(fmt.Sprintf("nodes/node-%03d.yaml", i), fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: node-%03d\n  labels: {site: plant-%d, line: l%d}\n", i, i%7, i%10))
	}
	r.Write("fleet.yaml", "kind: Fleet\n")
	r.Commit("nodes")
	r.BareGit("repack", "-adfq", "--depth=50", "--window=50")
	head := plumbing.NewHash(strings.TrimSpace(r.BareGit("rev-parse", "HEAD")))
	packs, err := filepath.Glob(filepath.Join(r.BareDir, "objects", "pack", "*.pack"))
	if err != nil || len(packs) != 1 {
		t.Fatalf("packs %v, %v", packs, err)
	}
	data, err := os.ReadFile(packs[0])
	if err != nil {
		t.Fatal(err)
	}

	pickFrom := func(stream bool) map[plumbing.Hash]bool {
		st, err := openStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		p := newPicker(st.s, st.dir, head, keepForNode("node-123"))
		var missing []plumbing.Hash
		if stream {
			f, err := os.CreateTemp(filepath.Join(st.dir, "objects", "pack"), "tmp_pick_")
			if err != nil {
				t.Fatal(err)
			}
			progress, perr, err := p.passStream(&chunkReader{b: data, n: 97}, f, f.Name())
			f.Close()
			if err != nil || perr != nil {
				t.Fatalf("streamed pass: %v, %v", err, perr)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the file holds %d bytes of the pack's %d (%v)", len(got), len(data), err)
			}
			missing, err = p.pickAfter(f.Name(), 1, progress)
			if err != nil {
				t.Fatal(err)
			}
		} else if missing, err = p.pick(packs[0]); err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Fatalf("stream %v: %d objects missing", stream, len(missing))
		}
		return p.found
	}
	whole, streamed := pickFrom(false), pickFrom(true)
	if len(whole) < 4 || !maps.Equal(whole, streamed) {
		t.Errorf("picked from the whole file %d objects, while arriving %d (or other ones)", len(whole), len(streamed))
	}
}

// chunkReader returns b n bytes a read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}
