package source

import (
	"bytes"
	"compress/zlib"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// buildCommit's pack, written without go-git's encoder, is one that git
// itself indexes and reads back as the commit and the file it was given:
// a small report and one whose size takes several bytes of the object
// header, and one bigger than a stored deflate block.
func TestBuildCommitPackReadByGit(t *testing.T) {
	sig := object.Signature{Name: "fleetd", Email: "fleetd@n1", When: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	var parent plumbing.Hash
	bare := t.TempDir()
	gittest.Git(t, "", "init", "-q", "--bare", bare)
	for i, data := range [][]byte{[]byte("node: n1\n"), bytes.Repeat([]byte("workload: model, state: running\n"), 700), bytes.Repeat([]byte("0123456789abcdef"), 9000)} {
		var parents []plumbing.Hash
		if i > 0 {
			parents = []plumbing.Hash{parent}
		}
		pack, commit, err := buildCommit("n1.yaml", data, parents, sig, "n1: running\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		cmd := gittest.Command(bare, "index-pack", "--stdin", "--strict")
		cmd.Stdin = bytes.NewReader(pack)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
		}
		if got := gittest.Git(t, bare, "show", commit.String()+":status/n1.yaml"); got != string(data) {
			t.Errorf("report %d: git reads %d bytes, want %d", i, len(got), len(data))
		}
		msg := gittest.Git(t, bare, "log", "-1", "--format=%an <%ae> %s %P", commit.String())
		want := "fleetd <fleetd@n1> n1: running " + map[bool]string{true: parent.String(), false: ""}[i > 0]
		if strings.TrimSpace(msg) != strings.TrimSpace(want) {
			t.Errorf("report %d: git reads the commit as %q, want %q", i, msg, want)
		}
		parent = commit
	}
}

// zlibStored's streams inflate to what was written, across the stored
// blocks' 64 KiB bound.
func TestZlibStored(t *testing.T) {
	for _, n := range []int{0, 1, 0xffff, 0x10000, 200000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		var b bytes.Buffer
		zlibStored(&b, data)
		r, err := zlib.NewReader(&b)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read back %d bytes, %v", n, len(got), err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("%d bytes: checksum: %v", n, err)
		}
	}
}
