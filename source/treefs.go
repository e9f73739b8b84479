package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ErrSymlink: a path names a symbolic link, which the tree's file system
// reports but never follows.
var ErrSymlink = errors.New("symbolic link, not followed")

// treeFS is the one fs.FS over a git tree: the agent's revisions, Open's
// revisions and status reports are all read through it. Open resolves one
// path component at a time, so opening nodes/<node>.yaml decodes the root
// tree, the nodes/ tree and one blob: nothing else of the commit is read.
// Each tree is decoded once per FS (per Repo for Repo.Tree's), so reading
// every file of a large folder costs one decode of it. Files are read whole on Open (fleet repo
// files are small). ReadDir lists entries sorted by name.
//
// Submodule entries are left out. A symbolic link is reported as one
// (fs.ModeSymlink in ReadDir, Stat and Lstat; ReadLink gives its target)
// and never followed: Open returns a file that describes the link and
// whose Read fails with ErrSymlink naming the path, ReadFile fails the
// same way, and a path through a linked folder does not exist. Nothing
// read through the FS can leave the tree.
//
// It implements plan.FileHasher with the blob ids.
type treeFS struct {
	mu    *sync.Mutex // the owner's: go-git storage is not safe for concurrent use
	s     storer.EncodedObjectStorer
	root  plumbing.Hash
	trees map[plumbing.Hash]*dirTree // guarded by mu
	found map[string]entry           // "<tree id>/<name>" looked up in a large tree; guarded by mu
	// complete, when set, fetches every object of the tree; called once,
	// under mu, when a blob is missing. Guarded by mu.
	complete func() error
	// blobs, when set, reads ReadFiles' blobs from the packs in memory.
	blobs *packBlobs
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
)

func newTreeFS(mu *sync.Mutex, s storer.EncodedObjectStorer, root plumbing.Hash) *treeFS {
	return &treeFS{mu: mu, s: s, root: root, trees: map[plumbing.Hash]*dirTree{}, found: map[string]entry{}}
}

// entry is one resolved path.
type entry struct {
	name string // base name; "." for the root
	mode filemode.FileMode
	hash plumbing.Hash
}

func (e entry) isDir() bool  { return e.mode == filemode.Dir }
func (e entry) isLink() bool { return e.mode == filemode.Symlink }

var (
	errIsDir  = errors.New("is a directory")
	errNotDir = errors.New("not a directory")
)

func (f *treeFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	switch {
	case e.isDir():
		des, err := f.entries(e)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dir{info: info{name: e.name, mode: e.mode}, path: name, entries: des}, nil
	case e.isLink():
		fi, err := f.info(e)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &link{info: fi, path: name}, nil
	}
	data, err := f.blob(e.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return newFile(data, info{name: e.name, mode: e.mode, size: int64(len(data))}), nil
}

func (f *treeFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("readfile", name)
	if err != nil {
		return nil, err
	}
	switch {
	case e.isDir():
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errIsDir}
	case e.isLink():
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: ErrSymlink}
	}
	data, err := f.blob(e.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return data, nil
}

func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !e.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	des, err := f.entries(e)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return des, nil
}

// Stat describes name without following a symbolic link (as Lstat does):
// it is the same as Open and Stat, which never follow one either.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name) }

// Lstat describes name; a symbolic link is described, not followed.
func (f *treeFS) Lstat(name string) (fs.FileInfo, error) { return f.stat("lstat", name) }

func (f *treeFS) stat(op, name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup(op, name)
	if err != nil {
		return nil, err
	}
	fi, err := f.info(e)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return fi, nil
}

// ReadLink returns the target a symbolic link names, as written in the
// commit; it is not resolved.
func (f *treeFS) ReadLink(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	if !e.isLink() {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	data, err := f.blob(e.hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(data), nil
}

// FileHash returns the id of name's blob (or tree), which changes exactly
// when its content does (plan.FileHasher).
func (f *treeFS) FileHash(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("hash", name)
	if err != nil {
		return "", err
	}
	return e.hash.String(), nil
}

// lookup resolves name to its tree entry. The caller holds f.mu.
func (f *treeFS) lookup(op, name string) (entry, error) {
	if !fs.ValidPath(name) {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	cur := entry{name: ".", mode: filemode.Dir, hash: f.root}
	if name == "." {
		return cur, nil
	}
	walked := ""
	for elem := range strings.SplitSeq(name, "/") {
		switch {
		case cur.isLink():
			return entry{}, &fs.PathError{Op: op, Path: name,
				Err: fmt.Errorf("%w: %s is a %w", fs.ErrNotExist, walked, ErrSymlink)}
		case !cur.isDir():
			return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		next, ok, err := f.child(cur.hash, elem)
		if err != nil {
			return entry{}, &fs.PathError{Op: op, Path: name, Err: err}
		}
		if !ok || next.mode == filemode.Submodule {
			return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		cur = next
		walked = strings.TrimPrefix(walked+"/"+elem, "/")
	}
	return cur, nil
}

// child finds the entry elem of the tree h. A tree up to largeTree bytes
// is decoded once per FS; a larger one is searched as it is read, so that
// finding nodes/<node>.yaml in a fleet of any size holds one entry at a
// time (what was found is remembered). The caller holds f.mu.
func (f *treeFS) child(h plumbing.Hash, elem string) (entry, bool, error) {
	t, ok := f.trees[h]
	if !ok {
		key := h.String() + "/" + elem
		if e, ok := f.found[key]; ok {
			return e, e.name != "", nil
		}
		o, err := f.encoded(plumbing.TreeObject, h)
		if err != nil {
			return entry{}, false, err
		}
		if o.Size() > largeTree {
			r, err := o.Reader()
			if err != nil {
				return entry{}, false, err
			}
			defer r.Close()
			e, ok, err := findInTree(r, elem)
			if err != nil {
				return entry{}, false, fmt.Errorf("tree %s: %w", h, err)
			}
			f.found[key] = e
			return e, ok, nil
		}
		if t, err = decodeTree(o); err != nil {
			return entry{}, false, err
		}
		f.trees[h] = t
	}
	te, err := t.find(elem)
	if errors.Is(err, object.ErrEntryNotFound) {
		return entry{}, false, nil
	}
	if err != nil {
		return entry{}, false, err
	}
	return entry{name: te.Name, mode: te.Mode, hash: te.Hash}, true, nil
}

// tree decodes the tree h whole, once per FS. The caller holds f.mu; a
// tree read from the packs in memory (which go-git's storage does not
// touch) is read and decoded without it, so that the trees of two
// revisions are read at once.
func (f *treeFS) tree(h plumbing.Hash) (*dirTree, error) {
	if t, ok := f.trees[h]; ok {
		return t, nil
	}
	if f.blobs != nil {
		f.mu.Unlock()
		var t *dirTree
		if text, ok := f.blobs.treeText(h); ok {
			t, _ = decodeTreeText(text) // a malformed tree is decoded again below, for its error
		}
		f.mu.Lock()
		if t != nil {
			f.trees[h] = t
			return t, nil
		}
	}
	o, err := f.s.EncodedObject(plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	t, err := decodeTree(o)
	if err != nil {
		return nil, err
	}
	f.trees[h] = t
	return t, nil
}

// encoded returns the object h of type typ: from the packs in memory when
// it is there (a packed object of go-git's inflates its delta chain again
// on every read), else through go-git. The caller holds f.mu.
func (f *treeFS) encoded(typ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if f.blobs != nil {
		if o, ok := f.blobs.object(h); ok && o.typ == typ {
			return o, nil
		}
	}
	return f.s.EncodedObject(typ, h)
}

// entries lists the folder e, sorted by name. The caller holds f.mu.
func (f *treeFS) entries(e entry) ([]fs.DirEntry, error) {
	t, err := f.tree(e.hash)
	if err != nil {
		return nil, err
	}
	// One array of entries and one string of their ids in hex, not one
	// allocation each: nodes/ of a large fleet lists 10,000.
	arr := make([]dirEntry, 0, len(t.entries))
	des := make([]fs.DirEntry, 0, len(t.entries))
	folders := false
	for i, te := range t.entries {
		if te.Mode != filemode.Submodule {
			arr = append(arr, dirEntry{fsys: f, t: t, i: i})
			des = append(des, &arr[len(arr)-1])
			folders = folders || te.Mode == filemode.Dir
		}
	}
	// Git sorts a folder as if its name ended in "/": a tree in git's
	// order without one is sorted by name already.
	if folders || !t.sorted {
		slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return des, nil
}

// object returns the blob h. A store kept for one node (Config.Node)
// lacks the other nodes' files: the first blob found missing has the
// commit fetched whole (complete), once per FS. The caller holds f.mu.
func (f *treeFS) object(h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := f.s.EncodedObject(plumbing.BlobObject, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) && f.complete != nil {
		complete := f.complete
		f.complete = nil
		if err := complete(); err != nil {
			return nil, fmt.Errorf("fetch the whole tree for %s: %w", h, err)
		}
		o, err = f.s.EncodedObject(plumbing.BlobObject, h)
	}
	return o, err
}

// blob reads a blob whole. The caller holds f.mu.
func (f *treeFS) blob(h plumbing.Hash) ([]byte, error) {
	o, err := f.object(h)
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
func (f *treeFS) info(e entry) (info, error) {
	fi := info{name: e.name, mode: e.mode}
	if !e.isDir() {
		o, err := f.object(e.hash)
		if err != nil {
			return info{}, err
		}
		fi.size = o.Size()
	}
	return fi, nil
}
