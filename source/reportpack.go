package source

import (
	"bytes"
	"io"
	goruntime "runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"

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

// decodedFor returns the report decoded from status/<node>.yaml of tree,
// once. It reads the two trees as the pack held them and answers only
// the plain case: each name once in its tree, status a folder and the
// file a regular one; for anything else readReport reads the file
// through treeFS, which says what is wrong.
func (s *reportStore) decodedFor(tree plumbing.Hash, node string) (*decodedReport, bool) {
	dir, ok := s.entry(tree, "status", "40000")
	if !ok {
		return nil, false
	}
	blob, ok := s.entry(dir, node+".yaml", "100644", "100755")
	if !ok {
		return nil, false
	}
	return s.take(blob)
}

// entry returns the id of the entry name of the tree id, if the tree was
// read from the pack and holds that name once, with one of modes.
func (s *reportStore) entry(id plumbing.Hash, name string, modes ...string) (plumbing.Hash, bool) {
	o, err := s.Storage.EncodedObject(plumbing.TreeObject, id)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	t, ok := o.(*packedObject)
	if !ok {
		return plumbing.ZeroHash, false
	}
	var found plumbing.Hash
	n := 0
	for data := t.data; len(data) > 0; {
		sp := bytes.IndexByte(data, ' ')
		nul := bytes.IndexByte(data, 0)
		if sp < 0 || nul < sp || len(data) < nul+21 {
			return plumbing.ZeroHash, false
		}
		if string(data[sp+1:nul]) == name {
			if n++; n > 1 || !slices.Contains(modes, string(data[:sp])) {
				return plumbing.ZeroHash, false
			}
			found = plumbing.Hash(data[nul+1 : nul+21])
		}
		data = data[nul+21:]
	}
	return found, n == 1
}

// take returns the report decoded from blob h, once.
func (s *reportStore) take(h plumbing.Hash) (*decodedReport, bool) {
	d, ok := s.decoded[h]
	if !ok || d.taken.Swap(true) {
		return nil, false
	}
	return d, true
}

// readPack reads the reports' pack from r into the store (readPackInto);
// a blob that a tree read before names as one of the report files (or a
// blob read before such a tree) goes to the decoders meanwhile.
func (s *reportStore) readPack(r io.Reader) error {
	d := newReportDecoder(s)
	defer d.wait()
	candidates := map[plumbing.Hash]bool{} // blobs a tree names as a report file
	early := map[plumbing.Hash][]byte{}    // small blobs read before such a tree
	return readPackInto(s.Storage, r, func(o *packedObject) {
		switch o.typ {
		case plumbing.TreeObject:
			for _, b := range s.reportEntries(o.data) {
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
			case len(o.data) > maxReport:
			case candidates[o.id]:
				d.submit(o.id, o.data)
			default:
				early[o.id] = o.data
			}
		}
	})
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
