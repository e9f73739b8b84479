package plan

import (
	"errors"
	"io/fs"
	"strings"
)

// onlyNodeFilesDiffer reports whether base and head differ, if at all, only
// in the files directly in nodes/ named *.yaml or *.yml: every other file
// (fleet.yaml, workloads/, groups/, a secret file anywhere, a folder inside
// nodes/) is equal. It compares content ids, so it reads no file; it
// reports false when either side does not know them (not a FileHasher).
func onlyNodeFilesDiffer(base, head fs.FS) (bool, error) {
	if _, ok := base.(FileHasher); !ok {
		return false, nil
	}
	if _, ok := head.(FileHasher); !ok {
		return false, nil
	}
	same, err := sameExcept(base, head, ".", func(name string, _ bool) bool { return name == "nodes" })
	if err != nil || !same {
		return false, err
	}
	return sameExcept(base, head, "nodes", func(name string, dir bool) bool {
		return !dir && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"))
	})
}

// sameExcept reports whether every entry of dir that mayDiffer does not
// name is in both base and head with the same content id.
func sameExcept(base, head fs.FS, dir string, mayDiffer func(name string, isDir bool) bool) (bool, error) {
	bl, err := readDirOrNone(base, dir)
	if err != nil {
		return false, nil // not a folder: spec.Parse reports it; the caller reads the files
	}
	hl, err := readDirOrNone(head, dir)
	if err != nil {
		return false, nil
	}
	// Only the entries that must be equal are looked up: in nodes/ of a
	// fleet, none (every one is a node file).
	in := map[string]fs.DirEntry{}
	for _, e := range hl {
		if !mayDiffer(e.Name(), e.IsDir()) {
			in[e.Name()] = e
		}
	}
	for _, e := range bl {
		if mayDiffer(e.Name(), e.IsDir()) {
			continue
		}
		// An entry of head of the same name that may differ is a file
		// where e is a folder or the other way round.
		o, ok := in[e.Name()]
		if !ok || o.IsDir() != e.IsDir() {
			return false, nil
		}
		b, err := idOf(base, dir, e)
		if err != nil {
			return false, err
		}
		h, err := idOf(head, dir, o)
		if err != nil || b != h {
			return false, err
		}
	}
	if len(in) == 0 {
		return true, nil
	}
	names := make(map[string]bool, len(bl))
	for _, e := range bl {
		names[e.Name()] = true
	}
	for name := range in {
		if !names[name] {
			return false, nil
		}
	}
	return true, nil
}

// readDirOrNone lists dir; an absent dir has no entries.
func readDirOrNone(fsys fs.FS, dir string) ([]fs.DirEntry, error) {
	des, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return des, err
}
