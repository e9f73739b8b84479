package source

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"

	"github.com/gitfleet/gitfleet/durable"
)

// writeLocal adds pack to the in-process repository at l and moves ref
// from old (zero: the ref must not exist) to commit, in the order that
// keeps the repository valid if the process dies or the medium is pulled
// out at any instant:
//
//  1. the pack, written to a temp file, synced, renamed to its final name;
//  2. its index, the same way (git ignores a pack without its index);
//  3. the objects folder synced, so both names are on the medium;
//  4. the ref, in its lock file, synced, renamed over the ref, and its
//     folder synced.
//
// Until step 4 completes the ref names the old commit, whose objects are
// untouched. A full medium fails a step; the temp files are removed and
// the ref is unchanged. A ref not at old fails with errMoved.
func writeLocal(l Location, ref plumbing.ReferenceName, old, commit plumbing.Hash, pack []byte) error {
	refs, err := localRefs(l, []string{ref.String()})
	if err != nil {
		return err
	}
	if cur := refs[ref.String()]; cur != old {
		return fmt.Errorf("%w: at %s, expected %s", errMoved, short(cur.String()), short(old.String()))
	}
	if err := writePack(filepath.Join(l.dir, "objects", "pack"), pack); err != nil {
		return err
	}
	refFile := filepath.Join(l.dir, filepath.FromSlash(ref.String()))
	if err := os.MkdirAll(filepath.Dir(refFile), 0o755); err != nil {
		return err
	}
	// A lock left by a writer that died goes: a node is the only writer
	// of its own status ref.
	lock := refFile + ".lock"
	if err := os.Remove(lock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := writeFileSynced(lock, []byte(commit.String()+"\n"), os.O_EXCL); err != nil {
		return err
	}
	if err := os.Rename(lock, refFile); err != nil {
		os.Remove(lock)
		return err
	}
	return syncDir(filepath.Dir(refFile))
}

// writePack writes pack and its index into packDir, each through a synced
// temp file (the pack first: git ignores a pack without its index), then
// syncs packDir and its parent.
func writePack(packDir string, pack []byte) error {
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		return err
	}
	idx, sum, err := indexPack(pack)
	if err != nil {
		return err
	}
	base := filepath.Join(packDir, "pack-"+sum.String())
	if err := writeSynced(base+".pack", pack); err != nil {
		return err
	}
	if err := writeSynced(base+".idx", idx); err != nil {
		return err
	}
	for _, d := range []string{packDir, filepath.Dir(packDir)} {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// indexPack builds the index of a pack and returns it with the pack's
// checksum, which names both files.
func indexPack(pack []byte) ([]byte, plumbing.Hash, error) {
	w := new(idxfile.Writer)
	p, err := packfile.NewParser(packfile.NewScanner(bytes.NewReader(pack)), w)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	sum, err := p.Parse()
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("index pack: %w", err)
	}
	idx, err := w.Index()
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	var b bytes.Buffer
	if _, err := idxfile.NewEncoder(&b).Encode(idx); err != nil {
		return nil, plumbing.ZeroHash, err
	}
	return b.Bytes(), sum, nil
}

// writeSynced writes name through a temp file beside it (lowercase, as
// vfat needs nothing else), synced before it is renamed. An existing name
// is kept: pack files are named by their content.
func writeSynced(name string, data []byte) error {
	if fi, err := os.Lstat(name); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return nil
	}
	return durable.WriteFile(name, data, 0o644)
}

// writeFileSynced creates name (flag adds O_EXCL or O_TRUNC), writes data
// and syncs it; on failure the file is removed.
func writeFileSynced(name string, data []byte, flag int) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|flag, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// syncDir makes a folder's entries durable.
func syncDir(dir string) error { return durable.SyncDir(dir) }
