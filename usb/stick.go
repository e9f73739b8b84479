package usb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitfleet/gitfleet/fault"
)

// ErrBadStick matches (errors.Is) every refusal of a stick's content: an
// unfinished or damaged export, a missing or truncated file, a symbolic
// link. Reading the same stick again does not help; a new export does.
var ErrBadStick = errors.New("stick refused")

// StickError says what is wrong with a stick, naming the file.
type StickError struct {
	Dir  string // the stick's gitfleet/ folder
	Path string // relative to Dir; "" for the stick as a whole
	Err  error
}

func (e *StickError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("usb stick %s: %v", e.Dir, e.Err)
	}
	return fmt.Sprintf("usb stick %s: %s: %v", e.Dir, e.Path, e.Err)
}

func (e *StickError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadStick) hold.
func (e *StickError) Is(target error) bool { return target == ErrBadStick }

// Fault classes a bad stick as refused: reading it again does not help.
func (e *StickError) Fault() fault.Class { return fault.Refused }

// checkDigestBelow is the size under which Open checks a file's sha256;
// larger files (image layers) are checked by digest as they are imported.
const checkDigestBelow = 4 << 20

// Stick is a stick's gitfleet/ folder whose manifest was read and whose
// files passed Open's checks.
type Stick struct {
	// Dir is the absolute path of the gitfleet/ folder.
	Dir      string
	Manifest *Manifest
}

// RepoPath is the bare fleet repository.
func (s *Stick) RepoPath() string { return filepath.Join(s.Dir, RepoDir) }

// ImagesPath is the OCI image layout.
func (s *Stick) ImagesPath() string { return filepath.Join(s.Dir, ImagesDir) }

// Open checks the stick whose gitfleet/ folder is dir: it is a folder, it
// holds no symbolic link anywhere (a vfat stick cannot, and a link could
// point off the stick), its manifest is valid, and every file the manifest
// lists is there with its size (and, under 4 MiB, its sha256). Every
// refusal matches ErrBadStick and names the file; an error reading the
// stick (pulled out) does not.
func Open(dir string) (*Stick, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	bad := func(path string, err error) error { return &StickError{Dir: abs, Path: path, Err: err} }
	fi, err := os.Lstat(abs)
	switch {
	case err != nil:
		return nil, fmt.Errorf("usb stick %s: %w", abs, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(abs)
		return nil, bad("", fmt.Errorf("is a symbolic link (to %s); a stick's %s/ must be a folder", target, Dir))
	case !fi.IsDir():
		return nil, bad("", fmt.Errorf("not a folder"))
	}
	if err := noLinks(abs); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("usb stick %s: %w", abs, err)
	}
	defer root.Close()
	b, err := readCapped(root, ManifestFile, maxManifestBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bad(ManifestFile, errors.New("missing: the export did not finish (run fleetctl usb export again)"))
	}
	if err != nil {
		return nil, fmt.Errorf("usb stick %s: %w", abs, err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, bad("", err)
	}
	for _, f := range m.Files {
		if err := checkFile(root, f); err != nil {
			var se *StickError
			if errors.As(err, &se) {
				se.Dir = abs
			}
			return nil, err
		}
	}
	return &Stick{Dir: abs, Manifest: m}, nil
}

// noLinks walks dir without following links and refuses the first
// symbolic link (or other non-regular file) it meets.
func noLinks(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("usb stick %s: %w", dir, err)
		}
		rel, _ := filepath.Rel(dir, p)
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return &StickError{Dir: dir, Path: filepath.ToSlash(rel), Err: fmt.Errorf("is a symbolic link (to %s): a stick must hold none", target)}
		case t.IsDir(), t.IsRegular():
			return nil
		default:
			return &StickError{Dir: dir, Path: filepath.ToSlash(rel), Err: fmt.Errorf("is a %s, not a file or folder", t.Type())}
		}
	})
}

// checkFile checks one listed file: present, of its size, and of its
// digest when small. The StickError it returns has no Dir yet.
func checkFile(root *os.Root, f File) error {
	name := filepath.FromSlash(f.Path)
	if blob, ok := strings.CutPrefix(f.Path, ImagesDir+"/blobs/sha256/"); ok && "sha256:"+blob != f.Digest {
		return &StickError{Path: f.Path, Err: fmt.Errorf("the manifest gives it digest %s, its name says sha256:%s", f.Digest, blob)}
	}
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return &StickError{Path: f.Path, Err: errors.New("missing (the manifest lists it)")}
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return &StickError{Path: f.Path, Err: errors.New("not a regular file")}
	}
	if fi.Size() != f.Size {
		return &StickError{Path: f.Path, Err: fmt.Errorf("truncated or damaged: %d bytes, the manifest says %d", fi.Size(), f.Size)}
	}
	if f.Size >= checkDigestBelow {
		return nil
	}
	got, err := fileDigest(root, name)
	if err != nil {
		return err
	}
	if got != f.Digest {
		return &StickError{Path: f.Path, Err: fmt.Errorf("damaged: sha256 %s, the manifest says %s", got, f.Digest)}
	}
	return nil
}

// fileDigest is the sha256 of a file, streamed.
func fileDigest(root *os.Root, name string) (string, error) {
	f, err := root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// readCapped reads a whole small file below root, refusing a larger one.
func readCapped(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", name, limit)
	}
	return b, nil
}

// Find returns the gitfleet/ folder of the stick at dir: dir itself when
// it is one, else the one in dir or one or two folders below it (as
// scanned by the Watcher). More than one is an error naming them.
func Find(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if filepath.Base(abs) == Dir {
		if fi, err := os.Lstat(abs); err == nil && fi.IsDir() {
			return abs, nil
		}
	}
	if _, err := os.Stat(abs); err != nil {
		return "", err
	}
	sticks := scanRoots([]string{abs}, nil)
	switch len(sticks) {
	case 0:
		return "", fmt.Errorf("%s holds no %s/ folder", abs, Dir)
	case 1:
		return sticks[0], nil
	}
	return "", fmt.Errorf("%s holds several sticks (%v): name one", abs, sticks)
}

// CheckRepo refuses a stick whose fleet.git holds a symbolic link or is
// not a folder, naming it. It is the part of Open that reading and
// writing status refs needs (fleetctl usb import).
func CheckRepo(dir string) error {
	p := filepath.Join(dir, RepoDir)
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("usb stick %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return &StickError{Dir: dir, Path: RepoDir, Err: errors.New("not a folder")}
	}
	if err := noLinks(p); err != nil {
		var se *StickError
		if errors.As(err, &se) {
			se.Dir, se.Path = dir, RepoDir+"/"+se.Path
		}
		return err
	}
	return nil
}
