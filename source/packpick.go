package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/pjbgf/sha1cd"
)

const (
	// largeObject: an object bigger than this (the nodes/ tree of a large
	// fleet) is streamed from the pack to its loose file while it is
	// hashed, never held whole; the store serves it streamed too.
	largeObject = 256 << 10
	// maxPickPasses bounds the reads of one pack: a pack whose objects
	// come before the trees that name them needs more than one.
	maxPickPasses = 8
)

// errRefDelta: the pack holds a delta against an object named by hash
// that is not in the store: git sends offset deltas within a pack when
// asked for ofs-delta, and ref-deltas only against objects the client
// has (a thin pack). The caller falls back to go-git's full indexing.
var errRefDelta = errors.New("pack holds ref-deltas")

// errNoBase: a thin pack's delta names a base the store does not hold:
// an object the node does not keep (another node's file) changed. Its
// result is not one the node reads; were it one, the pick ends with it
// missing.
var errNoBase = errors.New("delta base not in the store")

// picker stores of a depth-1 pack only the objects a commit's tree needs
// under keep: it reads the pack once (again only when objects come before
// the trees that name them), hashes each object, and writes the wanted
// ones as loose objects. Its memory is a bounded cache of delta bases and
// the set of wanted objects, which holds what keep keeps, not every
// object of the pack: it does not grow with the files keep leaves out.
type picker struct {
	s    *filesystem.Storage
	dir  string // the store's directory
	keep func(dir string, name []byte, mode filemode.FileMode) bool

	want  map[plumbing.Hash]string // wanted object → its path ("" the root tree)
	found map[plumbing.Hash]bool
	ring  *ring
	delta bytes.Buffer
	ids   objectHasher
	// thin: the pack may be thin (the fetch offered haves); a delta whose
	// base the store lacks is skipped instead of failing the pick.
	thin bool
}

// commitPath marks the commit in picker.want.
const commitPath = "\x00commit"

func newPicker(s *filesystem.Storage, dir string, commit plumbing.Hash, keep func(dir string, name []byte, mode filemode.FileMode) bool) *picker {
	return &picker{
		s: s, dir: dir, keep: keep,
		want:  map[plumbing.Hash]string{commit: commitPath},
		found: map[plumbing.Hash]bool{},
		ring:  newRing(),
		ids:   objectHasher{h: sha1cd.New()},
	}
}

// pick reads the pack file at path until every wanted object is stored or
// a pass finds nothing new; it returns the wanted objects neither in the
// pack nor already in the store.
func (p *picker) pick(path string) ([]plumbing.Hash, error) {
	return p.pickAfter(path, 0, true)
}

// pickAfter is pick once done passes were made, the last one with
// progress.
func (p *picker) pickAfter(path string, done int, progress bool) ([]plumbing.Hash, error) {
	for i := done; i < maxPickPasses; i++ {
		if i > 0 && (!progress || len(p.missing()) == 0) {
			break
		}
		var err error
		if progress, err = p.pass(path); err != nil {
			return nil, err
		}
	}
	return p.missing(), nil
}

// passStream is the first pass, made while the pack arrives: it reads
// pack as it is copied to file (whose path is path), so that hashing and
// storing overlap the transfer; delta bases that left the ring are read
// from what file already holds (always before the delta). The rest of
// pack, after the objects, is copied to file too, whatever the objects
// were. perr is what the pack's content failed (as pass's error), err what
// the transfer or the file failed.
func (p *picker) passStream(pack io.Reader, file *os.File, path string) (progress bool, perr, err error) {
	tr := &teeReader{r: pack, w: file}
	progress, perr = p.read(streamPack(tr), path)
	if tr.err == nil {
		io.Copy(io.Discard, tr) // the rest goes to file; tr keeps an error
	}
	if tr.err != nil && tr.err != io.EOF {
		return false, nil, tr.err
	}
	return progress, perr, nil
}

// teeReader is io.TeeReader that keeps the first error of either side, so
// that a failed transfer is told from a bad pack, and returns it again
// without reading on: a stream transport's pack reader must not be read
// past its end.
type teeReader struct {
	r   io.Reader
	w   io.Writer
	err error
}

func (t *teeReader) Read(b []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(b)
	if n > 0 {
		if _, werr := t.w.Write(b[:n]); werr != nil {
			t.err = werr
			return 0, werr
		}
	}
	if err != nil {
		t.err = err
	}
	return n, err
}

func (p *picker) missing() []plumbing.Hash {
	var out []plumbing.Hash
	for h, path := range p.want {
		if p.found[h] {
			continue
		}
		if path == commitPath || !p.present(h) {
			out = append(out, h)
		}
	}
	return out
}

// present reports whether the store already holds h (from an earlier
// fetch); a tree found there is walked as if it came in the pack.
func (p *picker) present(h plumbing.Hash) bool {
	if p.s.HasEncodedObject(h) != nil {
		return false
	}
	p.found[h] = true
	if path := p.want[h]; path != commitPath {
		if o, err := p.s.EncodedObject(plumbing.AnyObject, h); err == nil && o.Type() == plumbing.TreeObject {
			if r, err := o.Reader(); err == nil {
				err = p.wantEntries(path, r)
				r.Close()
				if err != nil {
					return false
				}
			}
		}
	}
	return true
}

// pass reads the pack once; progress says whether it stored anything.
func (p *picker) pass(path string) (progress bool, err error) {
	r, err := openPack(path)
	if err != nil {
		return false, err
	}
	defer r.Close()
	return p.read(r, path)
}

// read reads the objects of the pack r, whose file is at path.
func (p *picker) read(r *packReader, path string) (progress bool, err error) {
	rr := &lazyPack{path: path} // random access for delta bases not in the ring
	defer rr.Close()
	n, err := r.header()
	if err != nil {
		return false, err
	}
	for range n {
		o, err := r.next()
		if err != nil {
			return false, err
		}
		typ := o.typ
		var content []byte
		switch o.typ {
		case plumbing.REFDeltaObject, plumbing.OFSDeltaObject:
			p.delta.Reset()
			if err := r.inflate(o, &p.delta); err != nil {
				return false, err
			}
			bt, base, err := p.deltaBase(rr, o)
			if errors.Is(err, errNoBase) {
				if p.thin {
					continue
				}
				return false, errRefDelta
			}
			if err != nil {
				return false, err
			}
			dst := p.ring.slot(o.offset, bt, o.base)
			if *dst, err = patchDelta((*dst)[:0], base, p.delta.Bytes()); err != nil {
				return false, fmt.Errorf("delta at %d: %w", o.offset, err)
			}
			typ, content = bt, *dst
		default:
			if o.size > largeObject {
				stored, err := p.streamLarge(r, o)
				if err != nil {
					return false, err
				}
				progress = progress || stored
				continue
			}
			dst := p.ring.slot(o.offset, typ, -1)
			w := sliceWriter{b: (*dst)[:0]}
			if err := r.inflate(o, &w); err != nil {
				return false, err
			}
			*dst = w.b
			content = w.b
		}
		hash := p.hash(typ, content)
		if path, ok := p.want[hash]; ok && !p.found[hash] {
			if err := p.store(hash, typ, content, path); err != nil {
				return false, err
			}
			progress = true
		}
	}
	return progress, nil
}

// deltaBase returns the type and content of delta o's base: for an
// offset delta the object at its offset (base), for a ref-delta of a thin
// pack the object from the store (errNoBase when the store lacks it).
func (p *picker) deltaBase(lp *lazyPack, o packObject) (plumbing.ObjectType, []byte, error) {
	if o.typ == plumbing.OFSDeltaObject {
		return p.base(lp, o.base)
	}
	obj, err := p.s.EncodedObject(plumbing.AnyObject, o.ref)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return 0, nil, errNoBase
	}
	if err != nil {
		return 0, nil, err
	}
	rd, err := obj.Reader()
	if err != nil {
		return 0, nil, err
	}
	defer rd.Close()
	content, err := io.ReadAll(rd)
	return obj.Type(), content, err
}

// hash is an object's id, with one hasher reused.
func (p *picker) hash(t plumbing.ObjectType, content []byte) plumbing.Hash {
	return p.ids.id(t, content)
}

// base returns the type and content of the object at offset, from the
// ring of recent objects or read again from the pack. The content is
// valid until the next object is read.
func (p *picker) base(lp *lazyPack, offset int64) (plumbing.ObjectType, []byte, error) {
	if t, c, ok := p.ring.get(offset); ok {
		return t, c, nil
	}
	r, err := lp.open()
	if err != nil {
		return 0, nil, err
	}
	if err := r.seek(offset); err != nil {
		return 0, nil, err
	}
	o, err := r.next()
	if err != nil {
		return 0, nil, err
	}
	var buf bytes.Buffer
	if err := r.inflate(o, &buf); err != nil {
		return 0, nil, err
	}
	typ, content := o.typ, buf.Bytes()
	switch o.typ {
	case plumbing.REFDeltaObject, plumbing.OFSDeltaObject:
		bt, base, err := p.deltaBase(lp, o)
		if err != nil {
			return 0, nil, err
		}
		if content, err = patchDelta(nil, base, content); err != nil {
			return 0, nil, fmt.Errorf("delta at %d: %w", offset, err)
		}
		typ = bt
	}
	return typ, content, nil
}

// streamLarge hashes a large whole object while writing it to a loose
// file, which it keeps when the object is wanted.
func (p *picker) streamLarge(r *packReader, o packObject) (bool, error) {
	var h plumbing.Hash
	var wanted bool
	err := p.writeLoose(func(w io.Writer) (plumbing.Hash, error) {
		p.ids.h.Reset()
		w = io.MultiWriter(w, p.ids.h)
		fmt.Fprintf(w, "%s %d\x00", o.typ, o.size)
		if err := r.inflate(o, w); err != nil {
			return h, err
		}
		p.ids.sum = p.ids.h.Sum(p.ids.sum[:0])
		copy(h[:], p.ids.sum)
		_, wanted = p.want[h]
		if !wanted || p.found[h] {
			return h, errNotWanted
		}
		return h, nil
	})
	if errors.Is(err, errNotWanted) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	p.found[h] = true
	if o.typ == plumbing.TreeObject {
		obj, err := p.s.EncodedObject(plumbing.TreeObject, h)
		if err != nil {
			return false, err
		}
		rd, err := obj.Reader()
		if err != nil {
			return false, err
		}
		defer rd.Close()
		if err := p.wantEntries(p.want[h], rd); err != nil {
			return false, err
		}
	}
	return true, nil
}

// errNotWanted: streamLarge read an object nobody wants.
var errNotWanted = errors.New("not wanted")

// writeLoose writes a loose object (stored zlib blocks: no compressor and
// its tables allocated) through write, which writes its header and content
// and returns its id, and puts it in place under that id.
func (p *picker) writeLoose(write func(io.Writer) (plumbing.Hash, error)) error {
	tmp, err := os.CreateTemp(filepath.Join(p.dir, "objects"), "tmp_obj_")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	z := newStoredZlib(tmp)
	h, err := write(z)
	if err != nil {
		return err
	}
	if err := z.Close(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	hex := h.String()
	if err := os.MkdirAll(filepath.Join(p.dir, "objects", hex[:2]), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(p.dir, "objects", hex[:2], hex[2:]))
}

// store writes a wanted object and adds what it names to the wanted set.
func (p *picker) store(h plumbing.Hash, typ plumbing.ObjectType, content []byte, path string) error {
	if err := p.writeLoose(func(w io.Writer) (plumbing.Hash, error) {
		fmt.Fprintf(w, "%s %d\x00", typ, len(content))
		_, err := w.Write(content)
		return h, err
	}); err != nil {
		return err
	}
	p.found[h] = true
	switch {
	case path == commitPath:
		if typ != plumbing.CommitObject {
			return fmt.Errorf("object %s is a %s, not a commit", h, typ)
		}
		tree, err := commitTree(content)
		if err != nil {
			return fmt.Errorf("commit %s: %w", h, err)
		}
		p.addWant(tree, "")
	case typ == plumbing.TreeObject:
		return p.wantEntries(path, bytes.NewReader(content))
	}
	return nil
}

// wantEntries adds the entries keep keeps of the tree at path.
func (p *picker) wantEntries(path string, r io.Reader) error {
	return scanTree(r, func(name []byte, mode filemode.FileMode, h plumbing.Hash) bool {
		if mode != filemode.Submodule && p.keep(path, name, mode) {
			child := string(name)
			if path != "" {
				child = path + "/" + child
			}
			p.addWant(h, child)
		}
		return true
	})
}

func (p *picker) addWant(h plumbing.Hash, path string) {
	if old, ok := p.want[h]; !ok || old == "nodes" {
		p.want[h] = path
	}
}

// commitTree returns the tree a commit's content names.
func commitTree(content []byte) (plumbing.Hash, error) {
	line, _, _ := bytes.Cut(content, []byte("\n"))
	hex, ok := bytes.CutPrefix(line, []byte("tree "))
	if !ok || !plumbing.IsHash(string(hex)) {
		return plumbing.ZeroHash, errors.New("no tree line")
	}
	return plumbing.NewHash(string(hex)), nil
}
