package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
)

// entryID is implemented by the fs.DirEntry of a FileHasher that knows
// the entry's id (FileHash of its path) without looking it up.
type entryID interface{ ID() string }

// dirDiff compares the YAML files of dir: changed holds the document names
// (file name without extension) with a file that differs, appears or
// disappears; same the file names equal in both.
func dirDiff(base, head fs.FS, dir string) (changed, same map[string]bool, err error) {
	// Both listed at once (a large nodes/ costs a tree to read and decode
	// on each side).
	var b map[string]string
	var berr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, berr = dirIDs(base, dir)
	}()
	h, err := dirIDs(head, dir)
	<-done
	if berr != nil {
		return nil, nil, berr
	}
	if err != nil {
		return nil, nil, err
	}
	changed, same = map[string]bool{}, make(map[string]bool, len(b))
	for f, id := range b {
		if h[f] == id {
			same[f] = true
		} else {
			changed[baseName(f)] = true
		}
	}
	for f := range h {
		if _, ok := b[f]; !ok {
			changed[baseName(f)] = true
		}
	}
	return changed, same, nil
}

// sameDir reports whether dir is a folder with the same content id in
// base and head (both FileHashers), so that every file in it is equal.
func sameDir(base, head fs.FS, dir string) (bool, error) {
	bh, ok := base.(FileHasher)
	if !ok {
		return false, nil
	}
	hh, ok := head.(FileHasher)
	if !ok {
		return false, nil
	}
	b, err := bh.FileHash(dir)
	if err != nil {
		return false, nil // absent or unreadable: compared file by file
	}
	h, err := hh.FileHash(dir)
	if err != nil || b != h {
		return false, nil
	}
	fi, err := fs.Stat(head, dir)
	return err == nil && fi.IsDir(), nil
}

// dirIDs returns the content id of every file in dir (none when dir is
// absent).
func dirIDs(fsys fs.FS, dir string) (map[string]string, error) {
	des, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		// Not a folder: spec.Parse reports it.
		if fi, serr := fs.Stat(fsys, dir); serr == nil && !fi.IsDir() {
			return nil, nil
		}
		return nil, err
	}
	ids := make(map[string]string, len(des))
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		id, err := idOf(fsys, dir, de)
		if err != nil {
			return nil, err
		}
		ids[de.Name()] = id
	}
	return ids, nil
}

// fileID is a content id of name: its FileHasher hash, or the SHA-256 of
// its bytes; "" when it does not exist.
func fileID(fsys fs.FS, name string) (string, error) {
	if h, ok := fsys.(FileHasher); ok {
		id, err := h.FileHash(name)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return id, err
	}
	b, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// idOf is fileID of the entry de of dir, from de when it knows it.
func idOf(fsys fs.FS, dir string, de fs.DirEntry) (string, error) {
	if e, ok := de.(entryID); ok {
		if _, ok := fsys.(FileHasher); ok {
			return e.ID(), nil
		}
	}
	if dir != "." {
		return fileID(fsys, dir+"/"+de.Name())
	}
	return fileID(fsys, de.Name())
}
