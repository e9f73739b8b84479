package source

import (
	"bufio"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// largeTree: a tree bigger than this (the nodes/ folder of a large fleet)
// is searched entry by entry as it is read, never decoded whole, when one
// path is looked up in it.
const largeTree = 64 << 10

// scanTree reads a git tree's content ("<mode> <name>\0<20-byte id>"
// entries) from r and calls fn with each entry until fn returns false. It
// holds one entry at a time.
func scanTree(r io.Reader, fn func(name []byte, mode filemode.FileMode, h plumbing.Hash) bool) error {
	br := bufio.NewReaderSize(r, 32<<10)
	var id [20]byte
	for {
		m, err := br.ReadSlice(' ')
		if err == io.EOF && len(m) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tree entry mode: %w", unexpected(err))
		}
		mode, err := treeMode(m[:len(m)-1])
		if err != nil {
			return fmt.Errorf("tree entry: %w", err)
		}
		name, err := br.ReadSlice(0)
		if err != nil {
			return fmt.Errorf("tree entry name: %w", unexpected(err))
		}
		if _, err := io.ReadFull(br, id[:]); err != nil {
			return fmt.Errorf("tree entry id: %w", unexpected(err))
		}
		if !fn(name[:len(name)-1], mode, plumbing.Hash(id)) {
			return nil
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// findInTree returns the entry name of the tree read from r.
func findInTree(r io.Reader, name string) (entry, bool, error) {
	var found entry
	ok := false
	err := scanTree(r, func(n []byte, mode filemode.FileMode, h plumbing.Hash) bool {
		if string(n) == name {
			found, ok = entry{name: name, mode: mode, hash: h}, true
			return false
		}
		return true
	})
	return found, ok, err
}

// treeMode parses an entry's octal mode as filemode.New does, without
// making a string of it.
func treeMode(b []byte) (filemode.FileMode, error) {
	if len(b) == 0 || len(b) > 7 {
		return 0, fmt.Errorf("tree entry mode %q", b)
	}
	var m uint32
	for _, c := range b {
		if c < '0' || c > '7' {
			return 0, fmt.Errorf("tree entry mode %q", b)
		}
		m = m<<3 | uint32(c-'0')
	}
	return filemode.FileMode(m), nil
}
