package source

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/pjbgf/sha1cd"
)

// readPackInto reads a pack (version 2 or 3, offset and ref deltas) from r
// into st, the objects held whole in memory, one after another while it
// arrives: each object is inflated and hashed once, and seen (if not nil)
// is called with it as soon as it is stored. A ref delta's base may come
// later in the pack or be in st already.
//
// It does what go-git's packfile.UpdateObjectStorage does for a store in
// memory, with less: go-git's parser indexes the whole pack first and
// then resolves the deltas, each object allocated more than once (with
// 10,000 status reports about a tenth of fleetctl status's CPU, and twice
// this reader's). The pack's trailing checksum is read, not checked:
// every object is read by its id, which is its hash.
func readPackInto(st *memory.Storage, r io.Reader, seen func(*packedObject)) error {
	pr := streamPack(r)
	n, err := pr.header()
	if err != nil {
		return err
	}
	ids := &objectHasher{h: sha1cd.New()}
	byOffset := make(map[int64]*packedObject, n)
	pending := map[plumbing.Hash][]packObject{} // ref deltas whose base is not read yet
	deltas := map[int64][]byte{}                // their data, by offset
	var delta bytes.Buffer
	var add func(o packObject, typ plumbing.ObjectType, data []byte) error
	add = func(o packObject, typ plumbing.ObjectType, data []byte) error {
		obj := &packedObject{id: ids.id(typ, data), typ: typ, data: data}
		byOffset[o.offset] = obj
		if _, err := st.SetEncodedObject(obj); err != nil {
			return err
		}
		if seen != nil {
			seen(obj)
		}
		for _, p := range pending[obj.id] {
			if err := patch(p, obj.typ, obj.data, deltas[p.offset], add); err != nil {
				return err
			}
			delete(deltas, p.offset)
		}
		delete(pending, obj.id)
		return nil
	}
	for range n {
		o, err := pr.next()
		if err != nil {
			return err
		}
		if o.typ != plumbing.OFSDeltaObject && o.typ != plumbing.REFDeltaObject {
			w := &sliceWriter{b: make([]byte, 0, min(o.size, 1<<20))} // no more than that on a size a pack declares
			if err := pr.inflate(o, w); err != nil {
				return err
			}
			if err := add(o, o.typ, w.b); err != nil {
				return err
			}
			continue
		}
		delta.Reset()
		if err := pr.inflate(o, &delta); err != nil {
			return err
		}
		if o.typ == plumbing.OFSDeltaObject {
			base, ok := byOffset[o.base]
			if !ok {
				return fmt.Errorf("delta at %d: no object at its base offset %d", o.offset, o.base)
			}
			if err := patch(o, base.typ, base.data, delta.Bytes(), add); err != nil {
				return err
			}
			continue
		}
		typ, base, err := stored(st, o.ref)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			pending[o.ref] = append(pending[o.ref], o)
			deltas[o.offset] = bytes.Clone(delta.Bytes())
			continue
		}
		if err != nil {
			return err
		}
		if err := patch(o, typ, base, delta.Bytes(), add); err != nil {
			return err
		}
	}
	for id := range pending {
		return fmt.Errorf("delta against %s, which the pack does not hold", id)
	}
	// The trailing checksum.
	if _, err := io.CopyN(io.Discard, pr.br, 20); err != nil {
		return fmt.Errorf("pack checksum: %w", unexpected(err))
	}
	return nil
}

// stored returns the type and content of object id of st.
func stored(st *memory.Storage, id plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	o, err := st.EncodedObject(plumbing.AnyObject, id)
	if err != nil {
		return 0, nil, err
	}
	if p, ok := o.(*packedObject); ok {
		return p.typ, p.data, nil
	}
	rd, err := o.Reader()
	if err != nil {
		return 0, nil, err
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	return o.Type(), b, err
}

// patch adds the object delta (the pack's object o) makes of base, an
// object of type typ.
func patch(o packObject, typ plumbing.ObjectType, base, delta []byte, add func(packObject, plumbing.ObjectType, []byte) error) error {
	data, err := patchDelta(nil, base, delta)
	if err != nil {
		return fmt.Errorf("delta at %d: %w", o.offset, err)
	}
	return add(o, typ, data)
}

// packedObject is an object read from a pack, held in memory
// (plumbing.EncodedObject, read-only).
type packedObject struct {
	id   plumbing.Hash
	typ  plumbing.ObjectType
	data []byte
}

func (o *packedObject) Hash() plumbing.Hash           { return o.id }
func (o *packedObject) Type() plumbing.ObjectType     { return o.typ }
func (o *packedObject) SetType(t plumbing.ObjectType) { o.typ = t }
func (o *packedObject) Size() int64                   { return int64(len(o.data)) }
func (o *packedObject) SetSize(int64)                 {}
func (o *packedObject) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(o.data)), nil
}
func (o *packedObject) Writer() (io.WriteCloser, error) {
	return nil, errors.New("a packed object is read-only")
}

// objectHasher computes object ids with one hasher.
type objectHasher struct {
	h   hash.Hash
	num []byte
	sum []byte
}

func (o *objectHasher) id(t plumbing.ObjectType, content []byte) plumbing.Hash {
	o.h.Reset()
	o.num = append(o.num[:0], t.String()...)
	o.num = append(o.num, ' ')
	o.num = strconv.AppendInt(o.num, int64(len(content)), 10)
	o.num = append(o.num, 0)
	o.h.Write(o.num)
	o.h.Write(content)
	o.sum = o.h.Sum(o.sum[:0])
	return plumbing.Hash(o.sum)
}
