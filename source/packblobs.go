package source

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// packBlobs reads many objects of a local repository at once from its
// pack files held in memory (memPacks), for fleetctl's plan, which reads
// every node file of a large fleet. go-git reads one object at a time,
// under the storage's one lock, and walks a delta's whole chain for each
// (a fleet's node files are deltas of each other, chains of 50): here the
// objects asked for are read in the order of their offsets in the pack,
// on every processor, and each base is inflated once and kept while the
// objects built on it are read.
type packBlobs struct {
	packs memPacks
	once  sync.Once
	idx   []memPackIndex // the packs that fit in memory; set by once
}

// memPackIndex is one pack in memory with its index.
type memPackIndex struct {
	data []byte
	idx  packIndex
}

// maxPackChain bounds a delta chain (git's own --depth limit is 4095): a
// pack whose ref deltas loop fails instead of recursing for ever.
const maxPackChain = 10000

// keptBases is how many bytes of resolved objects a reader keeps to build
// the next ones on; past it each object is built from its chain again.
const keptBases = 16 << 20

// defaultDepth is git's and fast-import's longest delta chain unless told
// otherwise (pack.depth, --depth).
const defaultDepth = 50

// minPerWorker: fewer objects than this per processor are read on one.
const minPerWorker = 256

// load lists the pack files with their indexes, once. A pack that cannot
// be read or does not fit in memory is left out: its objects are read by
// go-git.
func (p *packBlobs) load() {
	p.once.Do(func() {
		dir := path.Join("objects", "pack")
		fis, err := p.packs.ReadDir(dir)
		if err != nil {
			return
		}
		for _, fi := range fis {
			name, ok := strings.CutSuffix(fi.Name(), ".idx")
			if !ok {
				continue
			}
			data, err := p.packs.packData(path.Join(dir, name+".pack"))
			if err != nil || data == nil {
				continue
			}
			f, err := p.packs.Open(path.Join(dir, fi.Name()))
			if err != nil {
				continue
			}
			raw, err := readSized(f, fi.Size())
			f.Close()
			if err != nil {
				continue
			}
			if idx, ok := parsePackIndex(raw); ok {
				p.idx = append(p.idx, memPackIndex{data: data, idx: idx})
			}
		}
	})
}

// read returns the content of each object of ids that is a blob in a pack
// held in memory, at its index; nil for one it does not find there (a
// loose object, a pack too large) or cannot read, for the caller to read
// through go-git, which says what is wrong. An id asked for twice is read
// once, and its second content is a copy.
func (p *packBlobs) read(ids []plumbing.Hash) [][]byte {
	p.load()
	type target struct {
		pack int
		off  int64
		at   int // in ids
	}
	ts := make([]target, 0, len(ids))
	for at, id := range ids {
		if i, off, ok := p.find(id); ok {
			ts = append(ts, target{pack: i, off: off, at: at})
		}
	}
	slices.SortFunc(ts, func(a, b target) int { return cmp.Or(cmp.Compare(a.pack, b.pack), cmp.Compare(a.off, b.off)) })
	// Contiguous runs of offsets, one a worker: the objects of one delta
	// chain are mostly near each other.
	workers := max(1, min(goruntime.GOMAXPROCS(0), len(ts)/minPerWorker))
	out := make([][]byte, len(ids))
	var wg sync.WaitGroup
	for w := range workers {
		part := ts[w*len(ts)/workers : (w+1)*len(ts)/workers]
		wg.Go(func() {
			rs := map[int]*packResolver{}
			for i, t := range part {
				if i > 0 && part[i-1].pack == t.pack && part[i-1].off == t.off {
					if prev := out[part[i-1].at]; prev != nil {
						out[t.at] = bytes.Clone(prev)
					}
					continue
				}
				r := rs[t.pack]
				if r == nil {
					// The map of what it keeps made to size, not grown:
					// this part's objects of the pack come one after
					// another, and their chains resolve at most the
					// objects between the first and the last (all of
					// them for fast-import's chains), and about
					// defaultDepth+1 each.
					last := i
					for last+1 < len(part) && part[last+1].pack == t.pack {
						last++
					}
					hint := min(p.idx[t.pack].idx.objectsIn(t.off, part[last].off), (last-i+1)*(defaultDepth+1))
					r = newPackResolver(p.idx[t.pack], hint)
					rs[t.pack] = r
				}
				if typ, data, err := r.object(t.off, 0); err == nil && typ == plumbing.BlobObject {
					out[t.at] = data
				}
			}
		})
	}
	wg.Wait()
	return out
}

// object returns object id when it is in a pack held in memory, or loose.
func (p *packBlobs) object(id plumbing.Hash) (*packedObject, bool) {
	p.load()
	i, off, ok := p.find(id)
	if !ok {
		return p.loose(id)
	}
	typ, data, err := newPackResolver(p.idx[i], 0).object(off, 0)
	if err != nil {
		return nil, false
	}
	return &packedObject{id: id, typ: typ, data: data}, true
}

// treeText returns the content of tree id when it is in a pack held in
// memory, or loose: a tree stored whole is inflated into the string's own
// bytes, not into a slice then copied (nodes/ of a 10,000-node fleet is a
// tree of 430 KB, read at base and head).
func (p *packBlobs) treeText(id plumbing.Hash) (string, bool) {
	p.load()
	i, off, ok := p.find(id)
	if !ok {
		typ, size, body, ok := p.looseOpen(id)
		if !ok || typ != plumbing.TreeObject {
			return "", false
		}
		var sb strings.Builder
		sb.Grow(int(size))
		if _, err := io.CopyN(&sb, body, size); err != nil {
			return "", false
		}
		return sb.String(), true
	}
	s := newPackResolver(p.idx[i], 0)
	if err := s.r.seek(off); err != nil {
		return "", false
	}
	o, err := s.r.next()
	if err != nil {
		return "", false
	}
	if o.typ == plumbing.TreeObject && o.size <= maxDeltaResult {
		var sb strings.Builder
		sb.Grow(int(o.size))
		if err := s.r.inflate(o, &sb); err != nil {
			return "", false
		}
		return sb.String(), true
	}
	typ, data, err := s.object(off, 0)
	if err != nil || typ != plumbing.TreeObject {
		return "", false
	}
	return string(data), true
}

// find returns the pack that holds id and its offset there.
func (p *packBlobs) find(id plumbing.Hash) (int, int64, bool) {
	for i, pk := range p.idx {
		if off, ok := pk.idx.find(id); ok {
			return i, off, true
		}
	}
	return 0, 0, false
}

// packResolver reads objects of one pack in memory at their offsets,
// keeping what it built (up to keptBases bytes) for the deltas on it.
// One goroutine uses it.
type packResolver struct {
	pack    memPackIndex
	r       *packReader
	kept    map[int64]resolvedObject
	held    int
	scratch [][]byte // delta data, by chain depth
}

type resolvedObject struct {
	typ  plumbing.ObjectType
	data []byte
}

// newPackResolver reads pack; it will keep about hint objects.
func newPackResolver(pack memPackIndex, hint int) *packResolver {
	return &packResolver{pack: pack, r: readPack(pack.data), kept: make(map[int64]resolvedObject, hint)}
}

var errChainTooLong = errors.New("delta chain too long")

// object returns the type and content of the object at off, depth deltas
// down a chain. Its content may be kept, and is shared: callers only
// read it.
func (s *packResolver) object(off int64, depth int) (plumbing.ObjectType, []byte, error) {
	if o, ok := s.kept[off]; ok {
		return o.typ, o.data, nil
	}
	if depth > maxPackChain {
		return 0, nil, errChainTooLong
	}
	if err := s.r.seek(off); err != nil {
		return 0, nil, err
	}
	o, err := s.r.next()
	if err != nil {
		return 0, nil, err
	}
	if o.size > maxDeltaResult {
		return 0, nil, fmt.Errorf("object at %d: %d bytes, over the limit of %d", off, o.size, maxDeltaResult)
	}
	var res resolvedObject
	switch o.typ {
	case plumbing.OFSDeltaObject, plumbing.REFDeltaObject:
		for len(s.scratch) <= depth {
			s.scratch = append(s.scratch, nil)
		}
		delta := slices.Grow(s.scratch[depth][:0], int(o.size))[:o.size]
		s.scratch[depth] = delta
		if err := s.r.inflateTo(o, delta); err != nil {
			return 0, nil, err
		}
		base := o.base
		if o.typ == plumbing.REFDeltaObject {
			var ok bool
			if base, ok = s.pack.idx.find(o.ref); !ok {
				return 0, nil, fmt.Errorf("object at %d: delta base %s not in its pack", off, o.ref)
			}
		}
		typ, bdata, err := s.object(base, depth+1)
		if err != nil {
			return 0, nil, err
		}
		data, err := patchDelta(nil, bdata, delta)
		if err != nil {
			return 0, nil, fmt.Errorf("delta at %d: %w", off, err)
		}
		res = resolvedObject{typ: typ, data: data}
	default:
		res = resolvedObject{typ: o.typ, data: make([]byte, o.size)}
		if err := s.r.inflateTo(o, res.data); err != nil {
			return 0, nil, err
		}
	}
	if s.held+len(res.data) <= keptBases {
		s.kept[off] = res
		s.held += len(res.data)
	}
	return res.typ, res.data, nil
}
