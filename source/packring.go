package source

import "github.com/go-git/go-git/v5/plumbing"

// ring holds the last objects read, by pack offset, in buffers it
// reuses: git writes a delta right after its base or close to it, so the
// base of the next delta is nearly always here. Objects over ringObject
// bytes are not kept (a delta on them reads its base again).
type ring struct {
	slots [ringSize]ringSlot
	next  int
	last  int // the slot taken last; -1 none
}

const (
	ringSize   = 32
	ringObject = 16 << 10
)

type ringSlot struct {
	offset int64 // -1: empty
	typ    plumbing.ObjectType
	data   []byte
}

func newRing() *ring {
	r := &ring{last: -1}
	for i := range r.slots {
		r.slots[i].offset = -1
	}
	return r
}

func (r *ring) get(offset int64) (plumbing.ObjectType, []byte, bool) {
	for i := range r.slots {
		if s := &r.slots[i]; s.offset == offset {
			return s.typ, s.data, true
		}
	}
	return 0, nil, false
}

// slot returns the buffer for the object at offset, taking the oldest
// slot but the one of the offset keep (the base being read). A buffer
// grown past ringObject by the object before is dropped first, so the
// ring holds at most ringSize small buffers and one large one.
func (r *ring) slot(offset int64, typ plumbing.ObjectType, keep int64) *[]byte {
	if r.last >= 0 && cap(r.slots[r.last].data) > ringObject {
		r.slots[r.last] = ringSlot{offset: -1}
	}
	if r.slots[r.next].offset == keep {
		r.next = (r.next + 1) % ringSize
	}
	r.last = r.next
	s := &r.slots[r.next]
	r.next = (r.next + 1) % ringSize
	s.offset, s.typ = offset, typ
	return &s.data
}

// sliceWriter appends to b.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// lazyPack opens the pack a second time, for reading at offsets, on first
// use.
type lazyPack struct {
	path string
	r    *packReader
}

func (l *lazyPack) open() (*packReader, error) {
	if l.r == nil {
		r, err := openPack(l.path)
		if err != nil {
			return nil, err
		}
		l.r = r
	}
	return l.r, nil
}

func (l *lazyPack) Close() {
	if l.r != nil {
		l.r.Close()
	}
}
