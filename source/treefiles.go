package source

import (
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// ReadFiles returns the content of those of names, files of the folder
// dir, that are regular files it could read, by name; a name that is
// absent, a folder, a symbolic link or unreadable is left out, and
// ReadFile says what it is. A local repository's blobs are read together
// from its packs in memory (packBlobs), the others one at a time. It
// implements plan.FilesReader: fleetctl plan reads every node file of a
// fleet this way.
func (f *treeFS) ReadFiles(dir string, names []string) map[string][]byte {
	f.mu.Lock()
	ids := make([]plumbing.Hash, 0, len(names))
	found := make([]string, 0, len(names))
	if e, err := f.lookup("readfiles", dir); err == nil && e.isDir() {
		if t, err := f.tree(e.hash); err == nil {
			for _, n := range names {
				te, err := t.find(n)
				if err != nil || te.Mode == filemode.Dir || te.Mode == filemode.Symlink || te.Mode == filemode.Submodule {
					continue
				}
				ids = append(ids, te.Hash)
				found = append(found, n)
			}
		}
	}
	f.mu.Unlock()
	var got [][]byte
	if f.blobs != nil {
		got = f.blobs.read(ids)
	}
	out := make(map[string][]byte, len(found))
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
		out[found[i]] = data
	}
	return out
}
