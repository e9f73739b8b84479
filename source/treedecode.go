package source

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// dirTree is a git tree decoded as go-git's object.Tree.Decode decodes it:
// the same entries in the same order, modes made canonical, the same
// errors for a malformed tree; and searched by name as object.Tree's
// FindEntry searches one name. Its names are slices of one string of the
// tree's content, so a tree costs a few allocations, not three an entry:
// go-git took about 8 ms for a fleet's nodes/ of 10,000 files.
type dirTree struct {
	entries []object.TreeEntry
	sorted  bool // in git's order: searched by halves, as go-git does
	content string
	idAt    []int // where each entry's id is in content
}

// rawID returns the id of entry i as it is in the tree: its 20 bytes.
func (t *dirTree) rawID(i int) string {
	return t.content[t.idAt[i] : t.idAt[i]+len(plumbing.ZeroHash)]
}

// decodeTree decodes the tree object o.
func decodeTree(o plumbing.EncodedObject) (*dirTree, error) {
	if o.Type() != plumbing.TreeObject {
		return nil, object.ErrUnsupportedObject
	}
	var content string
	if p, ok := o.(*packedObject); ok {
		content = string(p.data)
	} else {
		r, err := o.Reader()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, err
		}
		content = string(b)
	}
	return decodeTreeText(content)
}

// decodeTreeText decodes a tree's content.
func decodeTreeText(content string) (*dirTree, error) {
	t := &dirTree{sorted: true, content: content, entries: make([]object.TreeEntry, 0, len(content)/40)}
	t.idAt = make([]int, 0, cap(t.entries))
	prev := ""
	for rest := content; rest != ""; {
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("%w: missing mode terminator", object.ErrMalformedTree)
		}
		mode, ok := parseMode(rest[:sp])
		if !ok {
			return nil, fmt.Errorf("%w: malformed mode", object.ErrMalformedTree)
		}
		rest = rest[sp+1:]
		nul := strings.IndexByte(rest, 0)
		if nul < 0 {
			return nil, fmt.Errorf("%w: missing filename terminator", object.ErrMalformedTree)
		}
		if nul == 0 {
			return nil, fmt.Errorf("%w: empty filename", object.ErrMalformedTree)
		}
		e := object.TreeEntry{Name: rest[:nul], Mode: canonicalMode(mode)}
		rest = rest[nul+1:]
		if len(rest) < len(e.Hash) {
			return nil, fmt.Errorf("%w: truncated object id", object.ErrMalformedTree)
		}
		copy(e.Hash[:], rest)
		t.idAt = append(t.idAt, len(content)-len(rest))
		rest = rest[len(e.Hash):]
		name := sortName(&e)
		if len(t.entries) != 0 && prev > name {
			t.sorted = false
		}
		prev = name
		t.entries = append(t.entries, e)
	}
	return t, nil
}

// parseMode parses an octal mode as filemode.New does (strconv.ParseUint
// in base 8 to 32 bits), without a string for each entry.
func parseMode(s string) (filemode.FileMode, bool) {
	if s == "" {
		return 0, false
	}
	var m uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '7' {
			return 0, false
		}
		if m = m<<3 | uint64(c-'0'); m > 1<<32-1 {
			return 0, false
		}
	}
	return filemode.FileMode(m), true
}

// canonicalMode is go-git's canonicalTreeMode.
func canonicalMode(mode filemode.FileMode) filemode.FileMode {
	switch mode & 0o170000 {
	case 0o040000:
		return filemode.Dir
	case 0o100000:
		if mode&0o111 != 0 {
			return filemode.Executable
		}
		return filemode.Regular
	case 0o120000:
		return filemode.Symlink
	default:
		return filemode.Submodule
	}
}

// sortName is the name git sorts an entry by: a folder's with a "/".
func sortName(e *object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// find returns the entry name (one path element), as object.Tree's
// FindEntry(name) does: a name go-git refuses as a tree path (".git",
// control characters…) is its error, a missing one ErrEntryNotFound.
func (t *dirTree) find(name string) (*object.TreeEntry, error) {
	i, err := t.index(name)
	if err != nil {
		return nil, err
	}
	return &t.entries[i], nil
}

// index is find's entry's index.
func (t *dirTree) index(name string) (int, error) {
	if !plainName(name) {
		if _, err := (&object.Tree{}).FindEntry(name); !errors.Is(err, object.ErrEntryNotFound) {
			if err == nil {
				err = object.ErrEntryNotFound
			}
			return 0, err
		}
	}
	if t.sorted {
		for _, key := range []string{name, name + "/"} {
			i := sort.Search(len(t.entries), func(i int) bool { return sortName(&t.entries[i]) >= key })
			if i < len(t.entries) && t.entries[i].Name == name {
				return i, nil
			}
		}
		return 0, object.ErrEntryNotFound
	}
	past := name + "/"
	for i := range t.entries {
		e := &t.entries[i]
		if e.Name == name {
			return i, nil
		}
		if sortName(e) > past {
			break
		}
	}
	return 0, object.ErrEntryNotFound
}

// findFrom is find, that first looks at the entry at hint (a caller
// looking up names in the tree's order passes the index after the last
// one found), and also returns the entry's index.
func (t *dirTree) findFrom(name string, hint int) (*object.TreeEntry, int, error) {
	if t.sorted && hint < len(t.entries) && plainName(name) {
		// find's answer when it is the first entry of that name and not
		// a folder (which find looks for after a file of the name).
		if e := &t.entries[hint]; e.Name == name && e.Mode != filemode.Dir && (hint == 0 || t.entries[hint-1].Name != name) {
			return e, hint, nil
		}
	}
	i, err := t.index(name)
	if err != nil {
		return nil, 0, err
	}
	return &t.entries[i], i, nil
}

// plainName reports whether name is one go-git accepts as a tree path
// without asking it: ASCII letters, digits, '-', '_' and '.', not first.
// go-git refuses control characters, "." and "..", and names that some
// file system reads as ".git" (".GIT", "git~1", ".git::$INDEX_ALLOCATION",
// ".g\u200cit"…): each starts with a '.' or holds a '~', a ':' or a byte
// past ASCII.
func plainName(name string) bool {
	if name == "" || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
