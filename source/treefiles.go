package source

import (
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// ReadFiles returns the content of each of names, files of the folder
// dir, at its index: non-nil for a regular file it could read (empty for
// an empty one), nil for a name that is absent, a folder, a symbolic link
// or unreadable, of which ReadFile says what it is. A local repository's blobs are read together
// from its packs in memory (packBlobs), the others one at a time. It
// implements plan.FilesReader: fleetctl plan reads every node file of a
// fleet this way.
func (f *treeFS) ReadFiles(dir string, names []string) [][]byte {
	f.mu.Lock()
	ids := make([]plumbing.Hash, 0, len(names))
	at := make([]int, 0, len(names)) // in names, of ids
	if e, err := f.lookup("readfiles", dir); err == nil && e.isDir() {
		if t, err := f.tree(e.hash); err == nil {
			next := 0 // names most often come in the tree's order
			for i, n := range names {
				te, k, err := t.findFrom(n, next)
				if err != nil || te.Mode == filemode.Dir || te.Mode == filemode.Symlink || te.Mode == filemode.Submodule {
					continue
				}
				next = k + 1
				ids = append(ids, te.Hash)
				at = append(at, i)
			}
		}
	}
	f.mu.Unlock()
	var got [][]byte
	if f.blobs != nil {
		got = f.blobs.read(ids)
	}
	out := make([][]byte, len(names))
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, id := range ids {
		var data []byte
		if got != nil {
			data = got[i]
		}
		if data == nil {
			var err error
			if data, err = f.blob(id); err != nil {
				continue
			}
		}
		if data == nil {
			data = []byte{}
		}
		out[at[i]] = data
	}
	return out
}
