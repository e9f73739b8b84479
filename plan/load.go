package plan

import (
	"cmp"
	"errors"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/gitfleet/gitfleet/spec"
)

// parallelNodes is the number of node files from which Load parses nodes/
// in parallel chunks; below it one spec.Parse is cheaper.
const parallelNodes = 512

// Load parses a whole fleet repo as spec.Parse does, with the same errors,
// but parses the files of nodes/ in parallel: each chunk of nodes is
// parsed by its own spec.Parse over a view of fsys that holds fleet.yaml,
// workloads/, groups/ and that chunk's node files. fsys must be safe for
// concurrent use.
func Load(fsys fs.FS) (*spec.Repo, error) {
	return loadNodes(fsys, nil)
}

// loadNodes is Load with the node files for which hide returns true left
// out (nil hides none).
func loadNodes(fsys fs.FS, hide func(file string) bool) (*spec.Repo, error) {
	names, err := nodeFiles(fsys)
	if err != nil {
		return nil, err
	}
	var keep []string
	for _, n := range names {
		if hide == nil || !hide(n) {
			keep = append(keep, n)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(keep)/parallelNodes+1)
	if workers <= 1 {
		if hide == nil {
			return spec.Parse(fsys)
		}
		return spec.Parse(&viewFS{FS: fsys, keep: setOf(keep)})
	}
	// Chunks split by name without extension, so that a.yaml and a.yml
	// (an error spec.Parse reports) land in one chunk.
	chunks := make([][]string, workers)
	for i, n := range keep {
		chunks[i*workers/len(keep)] = append(chunks[i*workers/len(keep)], n)
	}
	for i := 1; i < workers; i++ {
		for len(chunks[i]) > 0 && len(chunks[i-1]) > 0 && baseName(chunks[i][0]) == baseName(chunks[i-1][len(chunks[i-1])-1]) {
			chunks[i-1] = append(chunks[i-1], chunks[i][0])
			chunks[i] = chunks[i][1:]
		}
	}
	repos := make([]*spec.Repo, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i, c := range chunks {
		wg.Go(func() {
			repos[i], errs[i] = spec.Parse(&viewFS{FS: fsys, keep: setOf(c)})
		})
	}
	wg.Wait()
	if err := mergeErrors(errs); err != nil {
		return nil, err
	}
	repo := repos[0]
	for _, r := range repos[1:] {
		for k, v := range r.Nodes {
			repo.Nodes[k] = v
		}
	}
	return repo, nil
}

// loadHead parses head: fleet.yaml, workloads/, groups/ and the node
// files that may be affected (candidates; every one when fleet.yaml
// changed), those spec.PlainNode reads without spec.Parse; every one with
// spec.Parse when parseAll. It
// returns how many node files it left out. The node files it leaves out
// are equal at base, where their nodes run what they run at head. cores,
// when not nil, gives both revisions parsed without nodes (parseCores);
// base's, when parsed, is returned for loadBase (nil otherwise).
func loadHead(base, head Revision, d *differ, parseAll bool, cores <-chan coreRepos) (r *spec.Repo, hidden int, baseCore *spec.Repo, err error) {
	headErr := func(err error) error { return &RevisionError{Which: "head", Rev: head.Name, Err: err} }
	if parseAll {
		r, err := Load(head.FS)
		if err != nil {
			return nil, 0, nil, headErr(err)
		}
		return r, 0, nil, nil
	}
	if d.fleetChanged {
		r, _, readErr, err := scanLoad(head.FS, &candidates{all: true}, d.nodeSame, true, nil)
		if readErr != nil {
			return nil, 0, nil, readErr
		}
		if err != nil {
			return nil, 0, nil, headErr(err)
		}
		return r, 0, nil, nil
	}
	if cores == nil {
		cores = parseCores(base, head)
	}
	cr := <-cores
	if cr.headErr != nil {
		return nil, 0, nil, headErr(cr.headErr)
	}
	if cr.baseErr != nil {
		return nil, 0, nil, &RevisionError{Which: "base", Rev: base.Name, Err: cr.baseErr}
	}
	headCore, baseCore := cr.head, cr.base
	// A changed secret file changes the workloads and groups that name it:
	// mark them before picking the node files they may reach.
	if err := d.markSecretChanges(base, head, headCore); err != nil {
		return nil, 0, nil, err
	}
	c := newCandidates(d, baseCore, headCore)
	if !c.all && len(c.groups) == 0 && len(c.workloads) == 0 {
		// No changed group, workload or fleet.yaml: an unchanged node
		// file is reached only through a secret file it names, which
		// then changed too.
		if c.none, err = onlyNodeFilesDiffer(base.FS, head.FS); err != nil {
			return nil, 0, nil, err
		}
	}
	// headCore is head without nodes: scanLoad adds them to it.
	r, hidden, readErr, err := scanLoad(head.FS, c, d.nodeSame, true, headCore)
	if readErr != nil {
		return nil, 0, nil, readErr
	}
	if err != nil {
		return nil, 0, nil, headErr(err)
	}
	return r, hidden, baseCore, nil
}

// coreRepos are fleet.yaml, workloads/ and groups/ of base and head
// parsed, without their nodes.
type coreRepos struct {
	head, base       *spec.Repo
	headErr, baseErr error
}

// parseCores parses fleet.yaml, workloads/ and groups/ of base and head on
// another goroutine (Compute starts it while it compares the revisions'
// files) and sends them once. nodes/ is not listed: a folder that cannot
// be listed is reported by the parse of the node files.
func parseCores(base, head Revision) <-chan coreRepos {
	out := make(chan coreRepos, 1)
	go func() {
		var c coreRepos
		c.head, c.headErr = spec.Parse(noNodesFS{head.FS})
		if c.headErr == nil {
			c.base, c.baseErr = spec.Parse(noNodesFS{base.FS})
		}
		out <- c
	}()
	return out
}

// loadBase parses base: fleet.yaml, workloads/, groups/ and the node files
// that differ from head's (the others are head's), those spec.PlainNode reads
// without spec.Parse unless parseAll. core, when not nil, is base parsed
// without nodes (loadHead's), which it then adds them to.
func loadBase(base Revision, d *differ, parseAll bool, core *spec.Repo) (*spec.Repo, error) {
	var r *spec.Repo
	var readErr, err error
	if parseAll {
		r, err = loadNodes(base.FS, d.unchangedNodeFile)
	} else {
		fsys := base.FS
		if d.nodesEqual && len(d.nodeSame) == d.nodeFiles {
			// Every node file is head's: base's nodes/ need not even
			// be listed.
			fsys = noNodesFS{fsys}
		}
		r, _, readErr, err = scanLoad(fsys, &candidates{none: true}, d.nodeSame, true, core)
	}
	if readErr != nil {
		return nil, readErr
	}
	if err != nil {
		return nil, &RevisionError{Which: "base", Rev: base.Name, Err: err}
	}
	return r, nil
}

// nodeFiles lists the file names in nodes/ (none when it is absent or not
// a folder: spec.Parse reports that).
func nodeFiles(fsys fs.FS) ([]string, error) {
	des, err := fs.ReadDir(fsys, "nodes")
	if err != nil {
		if fi, serr := fs.Stat(fsys, "nodes"); errors.Is(serr, fs.ErrNotExist) || serr == nil && !fi.IsDir() {
			return nil, nil
		}
		return nil, err
	}
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	byBase := func(a, b string) int { return cmp.Or(cmp.Compare(baseName(a), baseName(b)), cmp.Compare(a, b)) }
	if !slices.IsSortedFunc(names, byBase) { // most often listed so already
		slices.SortFunc(names, byBase)
	}
	return names, nil
}

func baseName(file string) string {
	if i := strings.LastIndexByte(file, '.'); i > 0 {
		return file[:i]
	}
	return file
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// mergeErrors joins the errors of several spec.Parse calls: an I/O error
// is returned as is; spec errors are deduplicated (fleet.yaml, workloads/
// and groups/ are parsed by every chunk) and sorted by file, line and field
// as spec.Parse sorts them.
func mergeErrors(errs []error) error {
	var list []*spec.Error
	seen := map[string]bool{}
	for _, err := range errs {
		if err == nil {
			continue
		}
		for _, e := range flatten(err) {
			var se *spec.Error
			if !errors.As(e, &se) {
				return err
			}
			if s := se.Error(); !seen[s] {
				seen[s] = true
				list = append(list, se)
			}
		}
	}
	if len(list) == 0 {
		return nil
	}
	sortErrors(list)
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = e
	}
	return errors.Join(out...)
}

func sortErrors(list []*spec.Error) {
	slices.SortStableFunc(list, func(a, b *spec.Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Field, b.Field))
	})
}

// flatten lists the errors joined in err (err itself when it is not a join).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// viewFS is fsys with only the node files in keep visible in nodes/.
type viewFS struct {
	fs.FS
	keep map[string]bool // base names in nodes/
}

func (v *viewFS) hidden(name string) bool {
	dir, base, ok := strings.Cut(name, "/")
	return ok && dir == "nodes" && !strings.Contains(base, "/") && !v.keep[base]
}

func (v *viewFS) Open(name string) (fs.File, error) {
	if v.hidden(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return v.FS.Open(name)
}

func (v *viewFS) Stat(name string) (fs.FileInfo, error) {
	if v.hidden(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return fs.Stat(v.FS, name)
}

func (v *viewFS) ReadFile(name string) ([]byte, error) {
	if v.hidden(name) {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: fs.ErrNotExist}
	}
	return fs.ReadFile(v.FS, name)
}

func (v *viewFS) ReadDir(name string) ([]fs.DirEntry, error) {
	des, err := fs.ReadDir(v.FS, name)
	if err != nil || name != "nodes" {
		return des, err
	}
	out := des[:0:0]
	for _, de := range des {
		if v.keep[de.Name()] {
			out = append(out, de)
		}
	}
	return out, nil
}

// noNodesFS is fsys with no files in nodes/ (a folder that lists empty).
type noNodesFS struct{ fs.FS }

func (n noNodesFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name == "nodes" {
		return nil, nil
	}
	return fs.ReadDir(n.FS, name)
}

func (n noNodesFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(n.FS, name) }
