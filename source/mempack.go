package source

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5"
)

// maxMemPacks is how many bytes of pack files Open holds in memory.
const maxMemPacks = 32 << 20

// memPacks is a local repository's file system whose pack files are read
// whole into memory when go-git opens them, each once, while they fit in
// max bytes together; other files (and packs past that) pass through.
// go-git reads a pack with a seek and a read system call per object,
// about a tenth of the time of reading a fleet's 10,000 node files. Open
// uses it (fleetctl's repositories, read only).
type memPacks struct {
	billy.Filesystem
	mu    *sync.Mutex
	max   int64
	packs map[string][]byte // by name; guarded by mu
	size  *int64            // bytes in packs; guarded by mu
}

func newMemPacks(fsys billy.Filesystem, max int64) memPacks {
	return memPacks{Filesystem: fsys, max: max, mu: &sync.Mutex{}, packs: map[string][]byte{}, size: new(int64)}
}

func (m memPacks) Open(name string) (billy.File, error) {
	if !strings.HasSuffix(name, ".pack") {
		return m.Filesystem.Open(name)
	}
	data, f, err := m.load(name)
	if err != nil || f != nil {
		return f, err
	}
	return &memFile{name: name, Reader: bytes.NewReader(data)}, nil
}

// packData returns the pack file name read whole, nil when it does not fit.
func (m memPacks) packData(name string) ([]byte, error) {
	data, f, err := m.load(name)
	if f != nil {
		f.Close()
	}
	return data, err
}

// load returns name's bytes, read once; or, when they do not fit, the
// file opened.
func (m memPacks) load(name string) ([]byte, billy.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if data, ok := m.packs[name]; ok {
		return data, nil, nil
	}
	f, err := m.Filesystem.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := m.Filesystem.Stat(name)
	if err != nil || *m.size+fi.Size() > m.max {
		return nil, f, nil
	}
	defer f.Close()
	limit := m.max - *m.size + 1
	data, err := readSized(io.LimitReader(f, limit), min(fi.Size(), limit))
	if err != nil {
		return nil, nil, err
	}
	if *m.size+int64(len(data)) > m.max {
		f, err := m.Filesystem.Open(name) // it grew meanwhile
		return nil, f, err
	}
	m.packs[name] = data
	*m.size += int64(len(data))
	return data, nil, nil
}

var errReadOnly = errors.New("pack file read into memory: read only")

// memFile is a pack file read whole.
type memFile struct {
	name string
	*bytes.Reader
}

func (f *memFile) Name() string              { return f.name }
func (f *memFile) Write([]byte) (int, error) { return 0, errReadOnly }
func (f *memFile) Close() error              { return nil }
func (f *memFile) Lock() error               { return nil }
func (f *memFile) Unlock() error             { return nil }
func (f *memFile) Truncate(int64) error      { return errReadOnly }

// readSized reads r to its end into a buffer made for size bytes (a
// file's size by Stat) and grown only if it holds more: io.ReadAll starts
// at 512 bytes and doubles, allocating, zeroing and copying about three
// times what a pack of a megabyte or more holds.
func readSized(r io.Reader, size int64) ([]byte, error) {
	b := bytes.NewBuffer(make([]byte, 0, max(size, 0)+bytes.MinRead))
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}
