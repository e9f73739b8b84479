package source

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
)

// TestMemPacks: pack files are served from memory while they fit in the
// budget, each read once; the others and every other file come from disk,
// all with the same bytes.
func TestMemPacks(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a.pack": "0123456789", "b.pack": "abcdefghij", "a.idx": "index-file"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := newMemPacks(osfs.New(dir), 15)
	read := func(name string) (string, bool) {
		t.Helper()
		f, err := m.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 4)
		if _, err := f.ReadAt(b, 3); err != nil {
			t.Fatalf("%s: ReadAt: %v", name, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != files[name][3:7] {
			t.Errorf("%s: ReadAt(3) = %q", name, b)
		}
		_, inMemory := f.(*memFile)
		return string(all), inMemory
	}
	for _, c := range []struct {
		name     string
		inMemory bool
	}{{"a.pack", true}, {"b.pack", false}, {"a.idx", false}, {"a.pack", true}} {
		got, inMemory := read(c.name)
		if got != files[c.name] || inMemory != c.inMemory {
			t.Errorf("%s = %q (in memory %v), want %q (in memory %v)", c.name, got, inMemory, files[c.name], c.inMemory)
		}
	}
	// a.pack is read once: changed on disk, it is still served as read.
	if err := os.WriteFile(filepath.Join(dir, "a.pack"), []byte("changed!!!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := read("a.pack"); got != files["a.pack"] {
		t.Errorf("a.pack read again from disk: %q", got)
	}
	if len(m.packs) != 1 || *m.size != 10 {
		t.Errorf("%d packs, %d bytes held; want 1, 10", len(m.packs), *m.size)
	}
}
