// Package durable writes the agent's state files so that a crash or a
// power loss leaves the old content or the new one, never a torn, empty or
// missing file: the data goes to a temporary file beside the name, which is
// synced, renamed over the name, and the folder synced so that the rename
// itself is on the disk. A write that fails (a full disk) removes its
// temporary file and leaves the old content. The package imports only the
// standard library, so every layer can use it.
package durable

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces name with data, with permissions perm, creating the
// folders above it (0700) if needed.
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(name, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(name))
}

// Create writes data to name, which must not exist: it fails with an error
// matching fs.ErrExist if it does, and a crash never leaves name with part
// of data (the file appears whole, by a hard link, or not at all).
func Create(name string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(name, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, name); err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(name))
}

// writeTemp writes data to a new synced temporary file beside name and
// returns its path; on failure nothing is left.
func writeTemp(name string, data []byte, perm fs.FileMode) (string, error) {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// Created with perm (less the umask) rather than changed afterwards:
	// vfat refuses a chmod.
	var f *os.File
	var err error
	for range 100 {
		var b [4]byte
		rand.Read(b[:])
		f, err = os.OpenFile(filepath.Join(dir, "."+filepath.Base(name)+".tmp-"+hex.EncodeToString(b[:])), os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return f.Name(), nil
}

// SyncDir makes the entries of folder dir durable (a rename, a new or
// removed file in it). A filesystem that cannot sync folders (EINVAL, as
// some FUSE and vfat mounts answer) is taken to need nothing more.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errInvalid) {
		return nil
	}
	return err
}
