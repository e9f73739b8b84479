package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
)

// NodeCache keeps what ParseNodes read of each node file, so that the next
// revision parses only the files that changed: an agent whose rollout
// group needs every node's labels then pays for a revision's changed node
// files, not for the whole fleet's. It works with a tree that knows its
// files' content ids (FileHash, as source's git trees do); with any other
// fs.FS it parses every file, as ParseNodes does.
//
// A file's result is reused while its id, the ids of the other files its
// parse read (its overrides' secrets) and what it is checked against (the
// revision's workload names and fleet.yaml's hostPaths and sandbox policy)
// are the same; a file that failed keeps its errors. Only the last call's
// files are kept. A NodeCache is not safe for concurrent use.
type NodeCache struct {
	context string // the workload names and fleet policy of the last call
	own     string // the nodes the last call took from its Repo
	tree    string // nodes/ tree id of the last call; "" unknown
	nodes   map[string]Node
	broken  error
	files   map[string]*parsedFile // by path, the last call's
	parsed  int
}

// parsedFile is one node file as parsed.
type parsedFile struct {
	id   string
	deps map[string]string // other files the parse read, by path: their ids, "" absent
	node Node
	ok   bool // node holds the file's document (it may still have errors)
	errs errorList
}

// fileHasher is a tree that knows its files' content ids.
type fileHasher interface {
	FileHash(name string) (string, error)
}

// ParseNodes is r.ParseNodes(fsys), reusing the files unchanged since the
// last call. The nodes map returned is shared with later calls: read it,
// do not change it.
func (c *NodeCache) ParseNodes(r *Repo, fsys fs.FS) (nodes map[string]Node, broken error, err error) {
	return r.parseNodes(fsys, c)
}

// Parsed is how many node files the cache's calls have parsed in all.
func (c *NodeCache) Parsed() int { return c.parsed }

// cacheRun is one call of parseNodes with a cache. Its methods do nothing
// on a nil run (no cache, or a tree without ids).
type cacheRun struct {
	c    *NodeCache
	h    fileHasher
	log  *readLog
	ids  map[string]string // node file ids, by path
	next map[string]*parsedFile
}

// start begins a call: done when nodes/ and everything its files read are
// unchanged, so the last result stands; run is nil when fsys has no ids.
func (c *NodeCache) start(r *Repo, fsys fs.FS) (run *cacheRun, done bool) {
	h, ok := fsys.(fileHasher)
	if !ok {
		*c = NodeCache{parsed: c.parsed}
		return nil, false
	}
	ctx, own := r.nodeContext(), strings.Join(slices.Sorted(maps.Keys(r.Nodes)), "\n")
	tree, err := h.FileHash(dirNodes)
	if err != nil {
		tree = ""
	}
	if ctx != c.context || own != c.own {
		*c = NodeCache{parsed: c.parsed, context: ctx, own: own}
	}
	if tree != "" && tree == c.tree && c.nodes != nil && c.depsSame(h) {
		return nil, true
	}
	c.tree, c.nodes, c.broken = tree, nil, nil
	return &cacheRun{c: c, h: h, log: &readLog{FS: fsys}}, false
}

// nodeContext is what a node file is checked against besides its own
// content: the workload names and the fleet's policy.
func (r *Repo) nodeContext() string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(r.Workloads)) {
		b.WriteString(n)
		b.WriteByte('\n')
	}
	pol := policyOf(&r.Fleet.Spec)
	fmt.Fprintf(&b, "%q %q %t %t", pol.paths, slices.Sorted(maps.Keys(pol.caps)), pol.hostNetwork, pol.known)
	return b.String()
}

// depsSame says whether every file the kept parses read is unchanged.
func (c *NodeCache) depsSame(h fileHasher) bool {
	for _, f := range c.files {
		if !f.depsSame(h) {
			return false
		}
	}
	return true
}

func (f *parsedFile) depsSame(h fileHasher) bool {
	for name, id := range f.deps {
		if now, ok := idOf(h, name); !ok || now != id {
			return false
		}
	}
	return true
}

// idOf is name's content id, "" when it does not exist; ok is false when
// it cannot be told.
func idOf(h fileHasher, name string) (id string, ok bool) {
	id, err := h.FileHash(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", true
	case err != nil:
		return "", false
	}
	return id, true
}

// listIDs notes the content id of each listed node file.
func (run *cacheRun) listIDs(entries []entry) {
	if run == nil {
		return
	}
	run.ids = make(map[string]string, len(entries))
	run.next = make(map[string]*parsedFile, len(entries))
	for _, de := range run.log.listed {
		if e, ok := de.(interface{ ID() string }); ok {
			run.ids[dirNodes+"/"+de.Name()] = e.ID()
		}
	}
	for _, e := range entries {
		if run.ids[e.file] == "" {
			if id, ok := idOf(run.h, e.file); ok {
				run.ids[e.file] = id
			}
		}
	}
}

// reuse adds e's kept result to p when e is unchanged.
func (run *cacheRun) reuse(p *parser, e entry) bool {
	if run == nil {
		return false
	}
	f, ok := run.c.files[e.file]
	if !ok || f.id == "" || f.id != run.ids[e.file] || !f.depsSame(run.h) {
		return false
	}
	if f.ok {
		p.repo.Nodes[e.name] = f.node
	}
	p.errs = append(p.errs, f.errs...)
	run.next[e.file] = f
	return true
}

// record starts noting the files a parse reads.
func (run *cacheRun) record() {
	if run != nil {
		run.log.read = map[string]bool{}
	}
}

// keep stores the parse of e that record began, with its errors.
func (run *cacheRun) keep(p *parser, e entry, errs errorList) {
	if run == nil {
		return
	}
	read := run.log.read
	run.log.read = nil
	f := &parsedFile{id: run.ids[e.file], errs: errs}
	f.node, f.ok = p.repo.Nodes[e.name]
	for name := range read {
		if name == e.file {
			continue
		}
		id, ok := idOf(run.h, name)
		if !ok {
			return // cannot tell when it changes: parse it again next time
		}
		if f.deps == nil {
			f.deps = map[string]string{}
		}
		f.deps[name] = id
	}
	if f.id != "" {
		run.next[e.file] = f
	}
}

// finish keeps this call's files and result, and drops the rest.
func (run *cacheRun) finish(nodes map[string]Node, broken error) {
	if run == nil {
		return
	}
	run.c.files = run.next
	run.c.nodes, run.c.broken = nodes, broken
}

// readLog is an fs.FS that notes the names opened or stat'ed while read
// is not nil, and keeps the listing of nodes/.
type readLog struct {
	fs.FS
	read   map[string]bool
	listed []fs.DirEntry
}

func (l *readLog) note(name string) {
	if l.read != nil {
		l.read[name] = true
	}
}

func (l *readLog) Open(name string) (fs.File, error) {
	l.note(name)
	return l.FS.Open(name)
}

func (l *readLog) Stat(name string) (fs.FileInfo, error) {
	l.note(name)
	return fs.Stat(l.FS, name)
}

func (l *readLog) ReadDir(name string) ([]fs.DirEntry, error) {
	l.note(name)
	des, err := fs.ReadDir(l.FS, name)
	if name == dirNodes {
		l.listed = des
	}
	return des, err
}
