package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// entries lists dir's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "state", "state.json")
	for _, data := range []string{`{"v":1}`, `{"v":2}`} {
		if err := WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != data {
			t.Fatalf("after WriteFile(%s): %q, %v", data, got, err)
		}
	}
	if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	if got := entries(t, filepath.Dir(name)); len(got) != 1 {
		t.Errorf("folder holds %q, want the file alone", got)
	}
}

func TestCreateNeverReplaces(t *testing.T) {
	name := filepath.Join(t.TempDir(), "identity")
	if err := Create(name, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Create(name, []byte("two"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(name); string(got) != "one" {
		t.Errorf("file holds %q, want the first content", got)
	}
	if got := entries(t, filepath.Dir(name)); len(got) != 1 {
		t.Errorf("folder holds %q, want the file alone", got)
	}
}

// On a full filesystem (a small tmpfs), a write fails, the old content
// stays, and no temporary file is left to take the space.
func TestWriteFileOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mount a small tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	name := filepath.Join(dir, "state.json")
	if err := WriteFile(name, []byte("good"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 128<<10)
	err := WriteFile(name, big, 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteFile of more than the disk holds: %v, want ENOSPC", err)
	}
	if got, _ := os.ReadFile(name); string(got) != "good" {
		t.Errorf("after the failed write the file holds %d bytes, want the old content", len(got))
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("folder holds %q after the failed write, want the file alone", got)
	}
}
