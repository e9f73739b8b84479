package source

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// writeLocal adds pack to the in-process repository at l and moves ref
// from old (zero: the ref must not exist) to commit, in the order that
// keeps the repository valid if the process dies or the medium is pulled
// out at any instant:
//
//  1. the pack's index, written to a temp file, synced, renamed to its
//     final name (an index without its pack is ignored);
//  2. the pack, the same way;
//  3. the objects folder synced, so both names are on the medium;
//  4. the ref, in a temp file beside refs/ (never inside it: every file
//     there reads as a ref), synced, renamed over the ref, and both
//     folders synced.
//
// Until step 4 completes the ref names the old commit, whose objects are
// untouched. A full medium fails a step; the temp files are removed and
// the ref is unchanged. A ref not at old fails with errMoved. Every write
// goes through one handle on the repository's folder, opened first: a
// medium pulled out meanwhile (or lazily unmounted) fails the writes, or
// takes them, but never sends them to the folder the mount point covers
// on this machine's own disk.
func writeLocal(l Location, ref plumbing.ReferenceName, old, commit plumbing.Hash, pack []byte) error {
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	refs, err := localRefs(l, []string{ref.String()})
	if err != nil {
		return err
	}
	if cur := refs[ref.String()]; cur != old {
		return fmt.Errorf("%w: at %s, expected %s", errMoved, short(cur.String()), short(old.String()))
	}
	if err := writePack(root, "objects/pack", pack); err != nil {
		return err
	}
	refFile := ref.String()
	if err := root.MkdirAll(path.Dir(refFile), 0o755); err != nil {
		return err
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := "tmp_ref_" + hex.EncodeToString(rnd[:])
	if err := writeFileSynced(root, tmp, []byte(commit.String()+"\n"), os.O_EXCL); err != nil {
		return err
	}
	if err := root.Rename(tmp, refFile); err != nil {
		root.Remove(tmp)
		return err
	}
	if err := syncDirIn(root, path.Dir(refFile)); err != nil {
		return err
	}
	return syncDirIn(root, ".")
}

// writePack writes pack and its index into packDir below root, each
// through a synced temp file, the index first (an index without its pack
// is ignored by git and go-git alike; go-git fails on a pack without its
// index), then syncs packDir and its parent.
func writePack(root *os.Root, packDir string, pack []byte) error {
	if err := root.MkdirAll(packDir, 0o755); err != nil {
		return err
	}
	idx, sum, err := indexPack(pack)
	if err != nil {
		return err
	}
	base := path.Join(packDir, "pack-"+sum.String())
	if err := writeSynced(root, base+".idx", idx); err != nil {
		return err
	}
	if err := writeSynced(root, base+".pack", pack); err != nil {
		return err
	}
	for _, d := range []string{packDir, path.Dir(packDir)} {
		if err := syncDirIn(root, d); err != nil {
			return err
		}
	}
	return nil
}

// writeSynced writes name below root through a temp file beside it,
// synced before it is renamed. An existing name is kept: pack files are
// named by their content.
func writeSynced(root *os.Root, name string, data []byte) error {
	if fi, err := root.Lstat(name); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return nil
	}
	tmp := path.Join(path.Dir(name), "tmp_"+strings.ToLower(path.Base(name)))
	if err := writeFileSynced(root, tmp, data, os.O_TRUNC); err != nil {
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}

// writeFileSynced creates name below root (flag adds O_EXCL or O_TRUNC),
// writes data and syncs it; on failure the file is removed.
func writeFileSynced(root *os.Root, name string, data []byte, flag int) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|flag, 0o644)
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
		root.Remove(name)
	}
	return err
}

// syncDirIn makes the entries of folder dir below root durable.
func syncDirIn(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) {
		return nil // a filesystem that cannot sync folders
	}
	return err
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
