package plan

import (
	"bytes"
	"io/fs"
	"path"
	"time"
)

// readFS is fsys with the files in data (by path) already read: their
// bytes are served from data, everything else from fsys. Only regular
// files that fsys read are in data.
type readFS struct {
	fs.FS
	data map[string][]byte
	dirs *dirCache // nil: folders are listed by fsys every time
}

func (r *readFS) Open(name string) (fs.File, error) {
	if b, ok := r.data[name]; ok {
		return &readFile{Reader: bytes.NewReader(b), info: readInfo{name: path.Base(name), size: int64(len(b))}}, nil
	}
	return r.FS.Open(name)
}

func (r *readFS) ReadFile(name string) ([]byte, error) {
	if b, ok := r.data[name]; ok {
		return bytes.Clone(b), nil
	}
	return fs.ReadFile(r.FS, name)
}

func (r *readFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(r.FS, name) }
func (r *readFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if r.dirs != nil {
		return r.dirs.readDir(r.FS, name)
	}
	return fs.ReadDir(r.FS, name)
}

// readFile is an open file of readFS's data.
type readFile struct {
	*bytes.Reader
	info readInfo
}

func (f *readFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *readFile) Close() error               { return nil }

// readInfo describes a regular, read-only file.
type readInfo struct {
	name string
	size int64
}

func (i readInfo) Name() string       { return i.name }
func (i readInfo) Size() int64        { return i.size }
func (i readInfo) Mode() fs.FileMode  { return 0o444 }
func (i readInfo) ModTime() time.Time { return time.Time{} }
func (i readInfo) IsDir() bool        { return false }
func (i readInfo) Sys() any           { return nil }

// FilesReader is implemented by file systems that read many files of one
// folder faster together than one at a time, such as a git repository's
// packs read in order. ReadFiles returns the content of each of names
// (file names in dir) at its index: non-nil for a regular file it could
// read (empty for an empty file), nil for the others, of which ReadFile
// says what they are.
type FilesReader interface {
	ReadFiles(dir string, names []string) [][]byte
}

// readFiles reads names of dir with the FilesReader of fsys (or of the
// FS it lists once); nil when it has none: the files are read one at a
// time.
func readFiles(fsys fs.FS, dir string, names []string) [][]byte {
	for len(names) > 0 {
		switch f := fsys.(type) {
		case FilesReader:
			return f.ReadFiles(dir, names)
		case *listFS:
			fsys = f.FS
		case *hashedListFS:
			fsys = f.FS
		default:
			return nil
		}
	}
	return nil
}

// listFS is fsys with each folder listed once: a plan lists nodes/ of
// each revision several times (to compare, to pick files, for each parse).
type listFS struct {
	fs.FS
	dirs *dirCache
}

func (l *listFS) ReadDir(name string) ([]fs.DirEntry, error) { return l.dirs.readDir(l.FS, name) }
func (l *listFS) Stat(name string) (fs.FileInfo, error)      { return fs.Stat(l.FS, name) }
func (l *listFS) ReadFile(name string) ([]byte, error)       { return fs.ReadFile(l.FS, name) }

// hashedListFS is a listFS of a FileHasher.
type hashedListFS struct {
	listFS
	h FileHasher
}

func (l *hashedListFS) FileHash(name string) (string, error) { return l.h.FileHash(name) }

// listOnce wraps fsys in a listFS, keeping its FileHasher.
func listOnce(fsys fs.FS) fs.FS {
	l := listFS{FS: fsys, dirs: &dirCache{m: map[string][]fs.DirEntry{}}}
	if h, ok := fsys.(FileHasher); ok {
		return &hashedListFS{listFS: l, h: h}
	}
	return &l
}
