package plan

import (
	"io/fs"
	"runtime"
	"slices"
	"sync"

	"github.com/gitfleet/gitfleet/spec"
)

// scanLoad parses fleet.yaml, workloads/, groups/ and the node files of
// head that may be affected: the changed ones and the unchanged ones c
// keeps. One goroutine reads the node files in name order (the FS reads
// one at a time) and picks the unchanged ones to keep; each chunk of
// about parallelNodes files it has read is parsed meanwhile by its own
// spec.Parse, at most GOMAXPROCS at once, over a view that holds the
// chunk's files (from the bytes read), as loadNodes parses its chunks.
// A node file simpleNode reads (when fast) is not given to spec.Parse.
// It returns the repo and how many node files it left out, or the error
// of reading an unchanged node file (readErr) or of the parse (err: the
// errors spec.Parse of those files returns).
func scanLoad(fsys fs.FS, c *candidates, same map[string]bool, fast bool) (repo *spec.Repo, hidden int, readErr, err error) {
	names, err := nodeFiles(fsys)
	if err != nil {
		return nil, 0, nil, err
	}
	dirs := &dirCache{m: map[string][]fs.DirEntry{}}
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, runtime.GOMAXPROCS(0))
		mu    sync.Mutex
		repos []*spec.Repo // by chunk
		errs  []error
	)
	parse := func(files []string, data map[string][]byte) {
		sem <- struct{}{}
		mu.Lock()
		i := len(repos)
		repos, errs = append(repos, nil), append(errs, nil)
		mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := spec.Parse(&viewFS{FS: &readFS{FS: fsys, data: data, dirs: dirs}, keep: setOf(files)})
			mu.Lock()
			repos[i], errs[i] = r, err
			mu.Unlock()
		})
	}
	var chunk []string
	data := map[string][]byte{}
	simple := map[string]spec.Node{} // read by simpleNode
	for i, n := range names {
		name := "nodes/" + n
		switch {
		case same[n] && c.none:
			hidden++
			continue
		case same[n] && !c.all:
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				wg.Wait()
				return nil, 0, err, nil
			}
			if !c.keep(b) {
				hidden++
				continue
			}
			data[name] = b
		default:
			// Changed, or every file is kept: a file that cannot be read
			// here is read by spec.Parse, which reports why.
			if b, err := fs.ReadFile(fsys, name); err == nil {
				data[name] = b
			}
		}
		if b, ok := data[name]; ok && fast && !sharedName(names, i) {
			if node, ok := simpleNode(n, b); ok {
				simple[node.Metadata.Name] = node
				delete(data, name)
				continue
			}
		}
		chunk = append(chunk, n)
		if len(chunk) >= parallelNodes && (i+1 == len(names) || baseName(names[i+1]) != baseName(n)) {
			parse(chunk, data)
			chunk, data = nil, map[string][]byte{}
		}
	}
	if len(chunk) > 0 || len(repos) == 0 {
		parse(chunk, data)
	}
	wg.Wait()
	if err := mergeErrors(errs); err != nil {
		return nil, 0, nil, err
	}
	repo = repos[0]
	for _, r := range repos[1:] {
		for k, v := range r.Nodes {
			repo.Nodes[k] = v
		}
	}
	for k, v := range simple {
		repo.Nodes[k] = v
	}
	return repo, hidden, nil, nil
}

// dirCache remembers the folders listed through a readFS, shared by the
// parses of several chunks (listing nodes/ of a large fleet is not free).
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
	return slices.Clone(des), nil
}

// sharedName reports whether another file of names (sorted by base name)
// has the base name of names[i] (a.yaml and a.yml).
func sharedName(names []string, i int) bool {
	b := baseName(names[i])
	return i > 0 && baseName(names[i-1]) == b || i+1 < len(names) && baseName(names[i+1]) == b
}
