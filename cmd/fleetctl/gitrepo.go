package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/gitfleet/gitfleet/review"
	"github.com/gitfleet/gitfleet/source"
)

// gitRepo is a fleet repo opened with go-git: a local clone (work tree or
// bare) read in place, or a remote fetched into memory. Revisions are read
// from commit trees; no work tree is ever checked out. Safe for concurrent
// use: go-git's storage is not, so every read holds mu.
type gitRepo struct {
	mu   sync.Mutex
	repo *git.Repository
	loc  string // for messages, without credentials
}

// openRepo opens location: an existing directory (a clone, or any folder
// inside one) or a URL (file://, http(s)://, ssh://, git://), from which
// the branches and tags are fetched into memory, leaving out the status
// branches (refs/heads/status/*). Revisions that are full ref names
// (refs/pull/1/head) are fetched too.
func openRepo(ctx context.Context, location string, revs ...string) (*gitRepo, error) {
	if fi, err := os.Stat(location); err == nil && fi.IsDir() {
		// A bare repository or a work tree's root; else a folder inside one.
		r, err := git.PlainOpen(location)
		if errors.Is(err, git.ErrRepositoryNotExists) {
			r, err = git.PlainOpenWithOptions(location, &git.PlainOpenOptions{DetectDotGit: true})
		}
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", location, err)
		}
		return &gitRepo{repo: r, loc: location}, nil
	}
	loc := source.Redact(location)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	st := memory.NewStorage()
	r, err := git.Init(st, nil)
	if err != nil {
		return nil, err
	}
	rem, err := r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{location}})
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", loc, err)
	}
	refs, err := rem.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list refs of %s: %w", loc, scrub(err, location, loc))
	}
	var specs []config.RefSpec
	var head *plumbing.Reference
	for _, ref := range refs {
		n := ref.Name()
		switch {
		case n == plumbing.HEAD:
			head = ref
		case n.IsBranch() && !strings.HasPrefix(n.String(), "refs/heads/status/"), n.IsTag(), slices.Contains(revs, n.String()):
			specs = append(specs, config.RefSpec("+"+n.String()+":"+n.String()))
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("repository %s has no branch", loc)
	}
	err = rem.FetchContext(ctx, &git.FetchOptions{RefSpecs: specs, Tags: git.NoTags, Force: true})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("fetch %s: %w", loc, scrub(err, location, loc))
	}
	if head != nil {
		if head.Type() == plumbing.HashReference {
			err = st.SetReference(plumbing.NewHashReference(plumbing.HEAD, head.Hash()))
		} else {
			err = st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, head.Target()))
		}
		if err != nil {
			return nil, err
		}
	}
	return &gitRepo{repo: r, loc: loc}, nil
}

// scrub keeps a URL's credentials out of an error.
func scrub(err error, url, redacted string) error {
	if url == redacted {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), url, redacted))
}

// commit resolves rev (a hash, branch, tag, ref or expression such as
// main~1) to its commit.
func (g *gitRepo) commit(rev string) (*object.Commit, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h, err := g.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("revision %q in %s: %w", rev, g.loc, err)
	}
	c, err := g.repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("revision %q in %s: %w", rev, g.loc, err)
	}
	return c, nil
}

// tree returns the files of rev's commit and the commit's hash.
func (g *gitRepo) tree(rev string) (*treeFS, string, error) {
	c, err := g.commit(rev)
	if err != nil {
		return nil, "", err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t, err := c.Tree()
	if err != nil {
		return nil, "", fmt.Errorf("tree of %s: %w", c.Hash, err)
	}
	return &treeFS{g: g, root: t, dirs: map[string]*object.Tree{".": t}}, c.Hash.String(), nil
}

// treeFS is an fs.FS over a commit's tree. Files are read whole on Open.
// It implements review.FileHasher with the blob ids.
type treeFS struct {
	g    *gitRepo
	root *object.Tree
	// dirs caches decoded trees by path: go-git's Tree.FindEntry decodes
	// every folder on the way again, which costs O(n) per file of a large
	// folder such as nodes/.
	dirs map[string]*object.Tree
}

var (
	_ fs.ReadDirFS      = (*treeFS)(nil)
	_ fs.ReadFileFS     = (*treeFS)(nil)
	_ fs.StatFS         = (*treeFS)(nil)
	_ review.FileHasher = (*treeFS)(nil)
)

// lookup finds name's entry; the root is a Dir entry named ".".
// The caller holds g.mu.
func (t *treeFS) lookup(op, name string) (object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return object.TreeEntry{Name: ".", Mode: filemode.Dir, Hash: t.root.Hash}, nil
	}
	dir, base := ".", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i], name[i+1:]
	}
	parent, err := t.dir(dir)
	var e *object.TreeEntry
	if err == nil {
		e, err = parent.FindEntry(base)
	}
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, fs.ErrNotExist) || err == nil && e.Mode == filemode.Submodule {
		return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if err != nil {
		return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return *e, nil
}

// dir returns the tree at path (a folder), decoding each tree once.
// The caller holds g.mu.
func (t *treeFS) dir(path string) (*object.Tree, error) {
	if tree, ok := t.dirs[path]; ok {
		return tree, nil
	}
	parentPath, base := ".", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		parentPath, base = path[:i], path[i+1:]
	}
	parent, err := t.dir(parentPath)
	if err != nil {
		return nil, err
	}
	e, err := parent.FindEntry(base)
	if err != nil {
		return nil, err
	}
	if e.Mode != filemode.Dir {
		return nil, fs.ErrNotExist
	}
	tree, err := t.g.repo.TreeObject(e.Hash)
	if err != nil {
		return nil, err
	}
	t.dirs[path] = tree
	return tree, nil
}

func (t *treeFS) FileHash(name string) (string, error) {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	e, err := t.lookup("hash", name)
	if err != nil {
		return "", err
	}
	return e.Hash.String(), nil
}

func (t *treeFS) Open(name string) (fs.File, error) {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	e, err := t.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if e.Mode == filemode.Dir {
		des, err := t.entries(e)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dirFile{info: entryInfo{e: e}, entries: des}, nil
	}
	data, err := t.blob(e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &blobFile{Reader: bytes.NewReader(data), info: entryInfo{e: e, size: int64(len(data))}}, nil
}

func (t *treeFS) ReadFile(name string) ([]byte, error) {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	e, err := t.lookup("readfile", name)
	if err != nil {
		return nil, err
	}
	if e.Mode == filemode.Dir {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory")}
	}
	data, err := t.blob(e)
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return data, nil
}

func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	e, err := t.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if e.Mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	des, err := t.entries(e)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return des, nil
}

func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	e, err := t.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return t.info(e)
}

func (t *treeFS) info(e object.TreeEntry) (fs.FileInfo, error) {
	info := entryInfo{e: e}
	if e.Mode != filemode.Dir {
		b, err := t.g.repo.BlobObject(e.Hash)
		if err != nil {
			return nil, err
		}
		info.size = b.Size
	}
	return info, nil
}

func (t *treeFS) entries(e object.TreeEntry) ([]fs.DirEntry, error) {
	tree, err := t.g.repo.TreeObject(e.Hash)
	if err != nil {
		return nil, err
	}
	var des []fs.DirEntry
	for _, te := range tree.Entries {
		if te.Mode != filemode.Submodule {
			des = append(des, dirEntry{t: t, e: te})
		}
	}
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return des, nil
}

func (t *treeFS) blob(e object.TreeEntry) ([]byte, error) {
	b, err := t.g.repo.BlobObject(e.Hash)
	if err != nil {
		return nil, err
	}
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

type entryInfo struct {
	e    object.TreeEntry
	size int64
}

func (i entryInfo) Name() string       { return i.e.Name }
func (i entryInfo) Size() int64        { return i.size }
func (i entryInfo) ModTime() time.Time { return time.Time{} }
func (i entryInfo) IsDir() bool        { return i.e.Mode == filemode.Dir }
func (i entryInfo) Sys() any           { return nil }
func (i entryInfo) Mode() fs.FileMode {
	switch i.e.Mode {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o444
	case filemode.Executable:
		return 0o555
	}
	return 0o444
}

type dirEntry struct {
	t *treeFS
	e object.TreeEntry
}

func (d dirEntry) Name() string      { return d.e.Name }
func (d dirEntry) IsDir() bool       { return d.e.Mode == filemode.Dir }
func (d dirEntry) Type() fs.FileMode { return entryInfo{e: d.e}.Mode().Type() }
func (d dirEntry) Info() (fs.FileInfo, error) {
	d.t.g.mu.Lock()
	defer d.t.g.mu.Unlock()
	return d.t.info(d.e)
}

type blobFile struct {
	*bytes.Reader
	info entryInfo
}

func (f *blobFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *blobFile) Close() error               { return nil }

type dirFile struct {
	info    entryInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
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
