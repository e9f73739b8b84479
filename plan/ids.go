package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"slices"
	"strings"
)

// entryID is implemented by the fs.DirEntry of a FileHasher that knows an
// id of the entry's content without looking it up: the ids of two entries
// of such file systems are equal exactly when their contents are (a git
// tree's object ids, as FileHash gives them or in another form).
type entryID interface{ ID() string }

// dirDiff compares the YAML files of dir: changed holds the document names
// (file name without extension) with a file that differs, appears or
// disappears; same the file names equal in both.
func dirDiff(base, head fs.FS, dir string) (changed, same map[string]bool, err error) {
	// Both listed at once (a large nodes/ costs a tree to read and decode
	// on each side).
	var b []fileEntry
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
	// Both sorted by name: one walk.
	changed, same = map[string]bool{}, make(map[string]bool, min(len(b), len(h)))
	for len(b) > 0 || len(h) > 0 {
		switch {
		case len(h) == 0 || len(b) > 0 && b[0].name < h[0].name:
			changed[baseName(b[0].name)] = true
			b = b[1:]
		case len(b) == 0 || h[0].name < b[0].name:
			changed[baseName(h[0].name)] = true
			h = h[1:]
		default:
			if b[0].id == h[0].id {
				same[b[0].name] = true
			} else {
				changed[baseName(b[0].name)] = true
			}
			b, h = b[1:], h[1:]
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

// fileEntry is a file of a folder and its content id.
type fileEntry struct{ name, id string }

// dirIDs returns the content id of every file in dir, sorted by name
// (none when dir is absent).
func dirIDs(fsys fs.FS, dir string) ([]fileEntry, error) {
	des, err := readDirOrNone(fsys, dir)
	if err != nil {
		// Not a folder: spec.Parse reports it.
		if fi, serr := fs.Stat(fsys, dir); serr == nil && !fi.IsDir() {
			return nil, nil
		}
		return nil, err
	}
	ids := make([]fileEntry, 0, len(des))
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		id, err := idOf(fsys, dir, de)
		if err != nil {
			return nil, err
		}
		ids = append(ids, fileEntry{name: de.Name(), id: id})
	}
	// A listing sorted by name, each name once (as fs.ReadDirFS lists a
	// folder, most often) is returned as is.
	if strictlySorted(ids) {
		return ids, nil
	}
	// By name, the last of a name listed twice (a malformed tree) kept.
	slices.SortStableFunc(ids, func(a, b fileEntry) int { return strings.Compare(a.name, b.name) })
	out := ids[:0]
	for i, e := range ids {
		if i+1 < len(ids) && ids[i+1].name == e.name {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// strictlySorted reports whether ids are sorted by name, each name once.
func strictlySorted(ids []fileEntry) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i-1].name >= ids[i].name {
			return false
		}
	}
	return true
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

// idOf is an id of the content of the entry de of dir: de's own when it
// knows one (entryID), else fileID.
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
