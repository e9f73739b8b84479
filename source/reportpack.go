package source

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/pjbgf/sha1cd"

	"github.com/gitfleet/gitfleet/status"
)

// reportStore is ReadReports' store: the reports' pack is read into memory
// while it arrives (readPack), and each report a tree of it names is
// decoded by other goroutines meanwhile, so that the YAML of a fleet's
// reports is mostly read by the time the pack ends. readReport takes the
// decoded report by its blob id; a report not decoded here (another
// order of objects, a v0 server) is decoded there as before.
type reportStore struct {
	*memory.Storage
	// files are the report files the pack is read for: "<node>.yaml" of
	// every node whose ref was listed.
	files map[string]bool
	// decoded holds a report for each blob decoded while the pack was
	// read, by blob id. Written by readPack alone; read after it returned.
	decoded map[plumbing.Hash]*decodedReport
}

// decodedReport is one report file decoded while its pack was read.
type decodedReport struct {
	st    *status.NodeStatus
	err   error
	taken atomic.Bool // handed to a Report once; a second node with the same blob decodes its own
}

func newReportStore() *reportStore {
	return &reportStore{Storage: memory.NewStorage(), decoded: map[plumbing.Hash]*decodedReport{}}
}

// expect names the nodes whose reports the pack holds.
func (s *reportStore) expect(heads map[string]plumbing.Hash) {
	s.files = make(map[string]bool, len(heads))
	for n := range heads {
		s.files[n+".yaml"] = true
	}
}

// take returns the report decoded from blob h, once.
func (s *reportStore) take(h plumbing.Hash) (*decodedReport, bool) {
	d, ok := s.decoded[h]
	if !ok || d.taken.Swap(true) {
		return nil, false
	}
	return d, true
}

// readPack reads a pack (version 2 or 3, offset and ref deltas) from r
// into the store, one object after another, each inflated and hashed
// once; a blob that a tree read before names as one of the report files
// (or a blob read before such a tree) goes to the decoders.
//
// It replaces go-git's packfile.UpdateObjectStorage here, which indexes
// the whole pack before anything can be read (with 10,000 reports about
// a tenth of fleetctl status's CPU). The pack's trailing checksum is not
// checked: every object is read by its id, which is its hash.
func (s *reportStore) readPack(r io.Reader) error {
	pr := streamPack(r)
	n, err := pr.header()
	if err != nil {
		return err
	}
	d := newReportDecoder(s)
	defer d.wait()
	ids := &objectHasher{h: sha1cd.New()}
	byOffset := make(map[int64]*packedObject, n)
	pending := map[plumbing.Hash][]packObject{} // ref deltas whose base is not read yet
	deltas := map[int64][]byte{}                // their data, by offset
	candidates := map[plumbing.Hash]bool{}      // blobs a tree names as a report file
	early := map[plumbing.Hash][]byte{}         // small blobs read before such a tree
	var delta bytes.Buffer
	var add func(o packObject, typ plumbing.ObjectType, data []byte) error
	add = func(o packObject, typ plumbing.ObjectType, data []byte) error {
		obj := &packedObject{id: ids.id(typ, data), typ: typ, data: data}
		byOffset[o.offset] = obj
		if _, err := s.SetEncodedObject(obj); err != nil {
			return err
		}
		switch typ {
		case plumbing.TreeObject:
			for _, b := range s.reportEntries(data) {
				if candidates[b] {
					continue
				}
				candidates[b] = true
				if c, ok := early[b]; ok {
					d.submit(b, c)
					delete(early, b)
				}
			}
		case plumbing.BlobObject:
			switch {
			case len(data) > maxReport:
			case candidates[obj.id]:
				d.submit(obj.id, data)
			default:
				early[obj.id] = data
			}
		}
		for _, p := range pending[obj.id] {
			if err := patch(p, obj, deltas[p.offset], add); err != nil {
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
		switch o.typ {
		case plumbing.OFSDeltaObject, plumbing.REFDeltaObject:
			delta.Reset()
			if err := pr.inflate(o, &delta); err != nil {
				return err
			}
			base, ok := byOffset[o.base]
			if o.typ == plumbing.REFDeltaObject {
				base, ok = nil, false
				if b, err := s.Storage.EncodedObject(plumbing.AnyObject, o.ref); err == nil {
					base, ok = b.(*packedObject)
				}
				if !ok {
					pending[o.ref] = append(pending[o.ref], o)
					deltas[o.offset] = bytes.Clone(delta.Bytes())
					continue
				}
			}
			if !ok {
				return fmt.Errorf("delta at %d: no object at its base offset %d", o.offset, o.base)
			}
			if err := patch(o, base, delta.Bytes(), add); err != nil {
				return err
			}
		default:
			w := &sliceWriter{b: make([]byte, 0, min(o.size, maxReport))}
			if err := pr.inflate(o, w); err != nil {
				return err
			}
			if err := add(o, o.typ, w.b); err != nil {
				return err
			}
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

// patch adds the object delta (the pack's object o) makes of base.
func patch(o packObject, base *packedObject, delta []byte, add func(packObject, plumbing.ObjectType, []byte) error) error {
	data, err := patchDelta(nil, base.data, delta)
	if err != nil {
		return fmt.Errorf("delta at %d: %w", o.offset, err)
	}
	return add(o, base.typ, data)
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

// reportEntries returns the blobs of a tree's entries named as one of the
// report files, regular files only.
func (s *reportStore) reportEntries(tree []byte) []plumbing.Hash {
	var out []plumbing.Hash
	for len(tree) > 0 {
		sp := bytes.IndexByte(tree, ' ')
		nul := bytes.IndexByte(tree, 0)
		if sp < 0 || nul < sp || len(tree) < nul+1+20 {
			return out // malformed: readReport says so, if it reads it
		}
		mode, name := tree[:sp], tree[sp+1:nul]
		if (string(mode) == "100644" || string(mode) == "100755") && s.files[string(name)] {
			out = append(out, plumbing.Hash(tree[nul+1:nul+21]))
		}
		tree = tree[nul+21:]
	}
	return out
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

// reportDecoder decodes report files on one goroutine per processor.
type reportDecoder struct {
	s    *reportStore
	jobs chan decodeJob
	wg   sync.WaitGroup
}

type decodeJob struct {
	data []byte
	out  *decodedReport
}

func newReportDecoder(s *reportStore) *reportDecoder {
	d := &reportDecoder{s: s, jobs: make(chan decodeJob, 256)}
	for range goruntime.GOMAXPROCS(0) {
		d.wg.Go(func() {
			for j := range d.jobs {
				j.out.st, j.out.err = status.Unmarshal(j.data)
			}
		})
	}
	return d
}

// submit decodes the report in blob id; called by readPack alone.
func (d *reportDecoder) submit(id plumbing.Hash, data []byte) {
	if _, ok := d.s.decoded[id]; ok {
		return
	}
	out := &decodedReport{}
	d.s.decoded[id] = out
	d.jobs <- decodeJob{data: data, out: out}
}

// wait returns once every report submitted is decoded.
func (d *reportDecoder) wait() {
	close(d.jobs)
	d.wg.Wait()
}
