package source

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// treeFS is an fs.FS over a git tree in a store. Open resolves one path
// component at a time, so opening nodes/<node>.yaml decodes the root tree,
// the nodes/ tree and one blob: nothing else of the commit is read. Files
// are read whole on Open (fleet repo files are small). Submodule entries
// are left out; symbolic links appear as such and read as their target.
type treeFS struct {
	mu   *sync.Mutex // the Git's: the store is not safe for concurrent use
	s    storer.EncodedObjectStorer
	root plumbing.Hash
}

var (
	_ fs.FS         = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

// entry is one resolved path.
type entry struct {
	name string // base name; "." for the root
	mode filemode.FileMode
	hash plumbing.Hash
}

func (f *treeFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if e.mode == filemode.Dir {
		t, err := object.GetTree(f.s, e.hash)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		d := &dir{fsys: f, info: info{name: e.name, mode: e.mode}}
		for _, te := range t.Entries {
			if te.Mode != filemode.Submodule {
				d.entries = append(d.entries, entry{name: te.Name, mode: te.Mode, hash: te.Hash})
			}
		}
		return d, nil
	}
	data, err := f.blob(e.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &file{Reader: bytes.NewReader(data), info: info{name: e.name, mode: e.mode, size: int64(len(data))}}, nil
}

func (f *treeFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("readfile", name)
	if err != nil {
		return nil, err
	}
	if e.mode == filemode.Dir {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errIsDir}
	}
	data, err := f.blob(e.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return data, nil
}

func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return f.info(e)
}

var errIsDir = errors.New("is a directory")

// lookup resolves name to its tree entry. The caller holds f.mu.
func (f *treeFS) lookup(op, name string) (entry, error) {
	if !fs.ValidPath(name) {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	cur := entry{name: ".", mode: filemode.Dir, hash: f.root}
	if name == "." {
		return cur, nil
	}
	for elem := range strings.SplitSeq(name, "/") {
		if cur.mode != filemode.Dir {
			return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		t, err := object.GetTree(f.s, cur.hash)
		if err != nil {
			return entry{}, &fs.PathError{Op: op, Path: name, Err: err}
		}
		found := false
		for _, te := range t.Entries {
			if te.Name == elem && te.Mode != filemode.Submodule {
				cur, found = entry{name: te.Name, mode: te.Mode, hash: te.Hash}, true
				break
			}
		}
		if !found {
			return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	return cur, nil
}

// blob reads a blob whole. The caller holds f.mu.
func (f *treeFS) blob(h plumbing.Hash) ([]byte, error) {
	o, err := f.s.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, err
	}
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// info describes e; a blob's size costs a look at its object header. The
// caller holds f.mu.
func (f *treeFS) info(e entry) (fs.FileInfo, error) {
	fi := info{name: e.name, mode: e.mode}
	if e.mode != filemode.Dir {
		o, err := f.s.EncodedObject(plumbing.BlobObject, e.hash)
		if err != nil {
			return nil, &fs.PathError{Op: "stat", Path: e.name, Err: err}
		}
		fi.size = o.Size()
	}
	return fi, nil
}

// info is an fs.FileInfo and fs.DirEntry.
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

type file struct {
	*bytes.Reader
	info info
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Close() error               { return nil }

type dir struct {
	fsys    *treeFS
	info    info
	entries []entry
	off     int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Close() error               { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errIsDir}
}

// ReadDir lists entries in git's order, which is by name except that a
// directory sorts as if its name ended in "/"; fs.ReadDir sorts by name.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(rest) {
		rest = rest[:n]
	}
	d.off += len(rest)
	out := make([]fs.DirEntry, len(rest))
	for i, e := range rest {
		out[i] = dirEntry{fsys: d.fsys, e: e}
	}
	return out, nil
}

type dirEntry struct {
	fsys *treeFS
	e    entry
}

func (de dirEntry) Name() string      { return de.e.name }
func (de dirEntry) IsDir() bool       { return de.e.mode == filemode.Dir }
func (de dirEntry) Type() fs.FileMode { return info{mode: de.e.mode}.Mode().Type() }
func (de dirEntry) Info() (fs.FileInfo, error) {
	de.fsys.mu.Lock()
	defer de.fsys.mu.Unlock()
	return de.fsys.info(de.e)
}
