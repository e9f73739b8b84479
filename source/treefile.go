package source

import (
	"bytes"
	"io"
	"io/fs"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// info is an fs.FileInfo of a tree entry.
type info struct {
	name string
	mode filemode.FileMode
	size int64
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.mode == filemode.Dir }
func (i info) Sys() any           { return nil }

// Mode maps git's modes: folders 0o555, executables 0o555, other files
// 0o444 (a tree is read-only), symbolic links 0o777 as lstat shows them.
func (i info) Mode() fs.FileMode {
	switch i.mode {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Executable:
		return 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	}
	return 0o444
}

// file is an open blob.
type file struct {
	*bytes.Reader
	info info
}

func newFile(data []byte, fi info) *file { return &file{Reader: bytes.NewReader(data), info: fi} }

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Close() error               { return nil }

// link is an open symbolic link: it describes itself, and reading it fails.
type link struct {
	info info
	path string
}

func (l *link) Stat() (fs.FileInfo, error) { return l.info, nil }
func (l *link) Close() error               { return nil }
func (l *link) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: l.path, Err: ErrSymlink}
}

// dir is an open folder.
type dir struct {
	info    info
	path    string
	entries []fs.DirEntry
	off     int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Close() error               { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errIsDir}
}

// ReadDir lists the folder sorted by name, n entries at a time (all the
// rest for n <= 0).
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}

// dirEntry is one entry of a listed folder: the entry i of a tree
// decoded whole; a listing of nodes/ holds 10,000.
type dirEntry struct {
	fsys *treeFS
	t    *dirTree
	i    int
}

func (de *dirEntry) te() *object.TreeEntry { return &de.t.entries[de.i] }
func (de *dirEntry) Name() string          { return de.te().Name }
func (de *dirEntry) IsDir() bool           { return de.te().Mode == filemode.Dir }
func (de *dirEntry) Type() fs.FileMode     { return info{mode: de.te().Mode}.Mode().Type() }
func (de *dirEntry) Info() (fs.FileInfo, error) {
	te := de.te()
	de.fsys.mu.Lock()
	defer de.fsys.mu.Unlock()
	fi, err := de.fsys.info(entry{name: te.Name, mode: te.Mode, hash: te.Hash})
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: te.Name, Err: err}
	}
	return fi, nil
}

// ID is the entry's blob (or tree) id as the tree holds it, its 20 bytes
// (treeFS.FileHash gives it in hex), known without a lookup or a copy:
// plan compares folders by it.
func (de *dirEntry) ID() string { return de.t.rawID(de.i) }
