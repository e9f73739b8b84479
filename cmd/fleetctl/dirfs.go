package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// errSymlink: a path names a symbolic link, which a folder read as Git
// reads it reports but never follows.
var errSymlink = errors.New("symbolic link, not followed")

// dirFS is a folder read the way Git reads a work tree: a symbolic link is
// a link. It is reported (fs.ModeSymlink in ReadDir, Stat and Lstat; its
// target by ReadLink) and never followed: opening one gives a file that
// describes the link and whose Read fails, and a path through a linked
// folder does not exist. So nothing outside the folder (a PR's
// nodes/n1.yaml -> /etc/shadow) is ever read, nor quoted in a finding.
// Every access also goes through an os.Root, which refuses any path that
// leaves the folder should a link appear between the check and the open.
type dirFS struct {
	root *os.Root
}

var (
	_ fs.ReadDirFS  = (*dirFS)(nil)
	_ fs.ReadFileFS = (*dirFS)(nil)
	_ fs.StatFS     = (*dirFS)(nil)
	_ fs.ReadLinkFS = (*dirFS)(nil)
)

// openDirFS opens dir. Close the FS when done.
func openDirFS(dir string) (*dirFS, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &dirFS{root: r}, nil
}

func (d *dirFS) Close() error { return d.root.Close() }

// lookup checks name one component at a time without following links. It
// returns the link's description when name itself is a link, and
// fs.ErrNotExist when a folder on the way is a link (or not a folder).
func (d *dirFS) lookup(op, name string) (link fs.FileInfo, err error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return nil, nil
	}
	parts := strings.Split(name, "/")
	for i := range parts {
		fi, err := d.root.Lstat(strings.Join(parts[:i+1], "/"))
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: unwrapPath(err)}
		}
		last := i == len(parts)-1
		switch {
		case fi.Mode()&fs.ModeSymlink != 0 && last:
			return fi, nil
		case !last && !fi.IsDir():
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	return nil, nil
}

// unwrapPath drops the os error's own path (absolute, outside the repo's
// view) and keeps its cause.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (d *dirFS) Open(name string) (fs.File, error) {
	link, err := d.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if link != nil {
		return &linkFile{info: link, path: name}, nil
	}
	f, err := d.root.Open(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrapPath(err)}
	}
	return f, nil
}

func (d *dirFS) ReadFile(name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory")}
	}
	return io.ReadAll(f)
}

func (d *dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir, ok := f.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	des, err := dir.ReadDir(-1)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: unwrapPath(err)}
	}
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return des, nil
}

// Stat describes name without following a link, as Lstat does.
func (d *dirFS) Stat(name string) (fs.FileInfo, error) { return d.Lstat(name) }

func (d *dirFS) Lstat(name string) (fs.FileInfo, error) {
	link, err := d.lookup("stat", name)
	if err != nil || link != nil {
		return link, err
	}
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: unwrapPath(err)}
	}
	return fi, nil
}

func (d *dirFS) ReadLink(name string) (string, error) {
	link, err := d.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	if link == nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: errors.New("not a symbolic link")}
	}
	return d.root.Readlink(name)
}

// linkFile is an opened symbolic link: it describes itself, and reading it
// fails.
type linkFile struct {
	info fs.FileInfo
	path string
}

func (l *linkFile) Stat() (fs.FileInfo, error) { return l.info, nil }
func (l *linkFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: l.path, Err: errSymlink}
}
func (l *linkFile) Close() error { return nil }
