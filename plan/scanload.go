package plan

import (
	"io/fs"
	"maps"
	"runtime"
	"sync"

	"github.com/gitfleet/gitfleet/spec"
)

// scanLoad parses fleet.yaml, workloads/, groups/ and the node files of
// head that may be affected: the changed ones and the unchanged ones c
// keeps. One goroutine reads the node files in name order (the FS reads
// one at a time); each chunk of about parallelNodes files it has read is
// meanwhile, at most GOMAXPROCS at once, filtered (the unchanged files c
// does not keep are left out, those spec.PlainNode reads are read so when
// fast) and the rest parsed by its own spec.Parse over a view that holds
// them (from the bytes read), as loadNodes parses its chunks. It returns
// the repo and how many node files it left out, or the error of reading an
// unchanged node file (readErr) or of the parse (err: the errors
// spec.Parse of those files returns). core, when not nil, is fsys parsed
// without nodes, without errors (parseCores): it stands for the first
// chunk's parse when that chunk keeps no file to parse, and becomes the
// repo returned.
func scanLoad(fsys fs.FS, c *candidates, same map[string]bool, fast bool, core *spec.Repo) (repo *spec.Repo, hidden int, readErr, err error) {
	names, err := nodeFiles(fsys)
	if err != nil {
		return nil, 0, nil, err
	}
	dirs := &dirCache{m: map[string][]fs.DirEntry{}}
	isSame := make([]bool, len(names)) // same, looked up once a file
	type chunkOut struct {
		repo   *spec.Repo
		err    error
		simple []spec.Node
		hidden int
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, runtime.GOMAXPROCS(0))
		mu   sync.Mutex
		outs []*chunkOut
	)
	// chunk filters and parses the files of names at idx, read as files
	// (nil: not read); the first chunk parses fleet.yaml, workloads/ and
	// groups/ even with no node file.
	chunk := func(idx []int, files [][]byte) {
		sem <- struct{}{}
		o := &chunkOut{}
		mu.Lock()
		first := len(outs) == 0
		outs = append(outs, o)
		mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			var keep []string
			var data map[string][]byte // of keep, for spec.Parse
			for k, i := range idx {
				n := names[i]
				b := files[k]
				read := b != nil
				if isSame[i] && !c.all && !c.keep(b) {
					o.hidden++
					continue
				}
				if read && fast && !sharedName(names, i) {
					if node, ok := spec.PlainNode(n, b); ok {
						o.simple = append(o.simple, node)
						continue
					}
				}
				keep = append(keep, n)
				if read {
					if data == nil {
						data = map[string][]byte{}
					}
					data["nodes/"+n] = b
				}
			}
			switch {
			case first && len(keep) == 0 && core != nil:
				o.repo = core
			case len(keep) > 0 || first:
				o.repo, o.err = spec.Parse(&viewFS{FS: &readFS{FS: fsys, data: data, dirs: dirs}, keep: setOf(keep)})
			}
		})
	}
	var wanted []string
	for i, n := range names {
		isSame[i] = same[n]
		if !isSame[i] || !c.none {
			wanted = append(wanted, n)
		}
	}
	pre := readFiles(fsys, "nodes", wanted) // nil: read one at a time below
	next := 0                               // in wanted: read asks for its files in order
	read := func(n string) ([]byte, error) {
		j := next
		next++
		if j < len(pre) && pre[j] != nil && wanted[j] == n {
			return pre[j], nil
		}
		b, err := fs.ReadFile(fsys, "nodes/"+n)
		if err == nil && b == nil {
			b = []byte{} // read: not nil
		}
		return b, err
	}
	var idx []int
	var files [][]byte
	for i, n := range names {
		if isSame[i] && c.none {
			hidden++
			continue
		}
		b, err := read(n)
		switch {
		case err == nil:
		case isSame[i] && !c.all:
			wg.Wait()
			return nil, 0, err, nil
		default:
			// Changed, or every file is kept: a file that cannot be read
			// here is read by spec.Parse, which reports why.
			b = nil
		}
		idx = append(idx, i)
		files = append(files, b)
		if len(idx) >= parallelNodes && (i+1 == len(names) || baseName(names[i+1]) != baseName(n)) {
			chunk(idx, files)
			idx, files = nil, nil
		}
	}
	if len(idx) > 0 || len(outs) == 0 {
		chunk(idx, files)
	}
	wg.Wait()
	var errs []error
	for _, o := range outs {
		errs = append(errs, o.err)
	}
	if err := mergeErrors(errs); err != nil {
		return nil, 0, nil, err
	}
	repo = outs[0].repo
	// The nodes of every chunk, in one map made for them all (a map of
	// 10,000 nodes grown from empty allocates about twice its size).
	total := 0
	for _, o := range outs {
		if o.repo != nil {
			total += len(o.repo.Nodes)
		}
		total += len(o.simple)
	}
	if total > len(repo.Nodes) {
		nodes := make(map[string]spec.Node, total)
		maps.Copy(nodes, repo.Nodes)
		repo.Nodes = nodes
	}
	for _, o := range outs {
		hidden += o.hidden
		if o.repo != nil && o.repo != repo {
			maps.Copy(repo.Nodes, o.repo.Nodes)
		}
		for _, n := range o.simple {
			repo.Nodes[n.Metadata.Name] = n
		}
	}
	return repo, hidden, nil, nil
}

// dirCache remembers the folders listed through a readFS or a listFS,
// shared by the parses of several chunks (listing nodes/ of a large fleet
// is not free). A listing it returns is the one it keeps, not a copy (a
// copy of nodes/ is 160 KB at 10,000 nodes, and a plan lists it about ten
// times): its callers, plan's and spec.Parse, only read it.
type dirCache struct {
	mu sync.Mutex
	m  map[string][]fs.DirEntry
}

func (d *dirCache) readDir(fsys fs.FS, name string) ([]fs.DirEntry, error) {
	d.mu.Lock()
	des, ok := d.m[name]
	d.mu.Unlock()
	if !ok {
		var err error
		if des, err = fs.ReadDir(fsys, name); err != nil {
			return nil, err
		}
		d.mu.Lock()
		d.m[name] = des
		d.mu.Unlock()
	}
	return des, nil
}

// sharedName reports whether another file of names (sorted by base name)
// has the base name of names[i] (a.yaml and a.yml).
func sharedName(names []string, i int) bool {
	b := baseName(names[i])
	return i > 0 && baseName(names[i-1]) == b || i+1 < len(names) && baseName(names[i+1]) == b
}
