package spec

import (
	"io/fs"
	"slices"
)

// ParseNodes reads every file in nodes/ of the revision r was read from
// (by ParseForNode), for what needs the whole fleet's nodes: rollout waves
// count a group's nodes by their labels. Each file is checked as Parse
// checks it, against r's workloads and hostPaths. Unlike Parse, a file with
// errors does not fail the others: its node is left out of nodes and the
// errors are returned, joined, in broken. err is an I/O error of fsys.
//
// So a broken nodes/other.yaml refuses the revision on node other alone,
// which reports why; every other node applies the revision as if other had
// no file.
func (r *Repo) ParseNodes(fsys fs.FS) (nodes map[string]Node, broken error, err error) {
	return r.parseNodes(fsys, nil)
}

// parseNodes is ParseNodes, reusing what c kept of the files unchanged
// since its last call (c may be nil).
func (r *Repo) parseNodes(fsys fs.FS, c *NodeCache) (map[string]Node, error, error) {
	p := &parser{
		fsys:  fsys,
		repo:  &Repo{Nodes: map[string]Node{}, files: map[string]sourceFile{}},
		known: map[string]bool{},
		hosts: policyOf(&r.Fleet.Spec),
	}
	for name := range r.Workloads {
		p.known[name] = true
	}
	var run *cacheRun
	if c != nil {
		var done bool
		if run, done = c.start(r, fsys); done {
			return c.nodes, c.broken, nil
		}
		if run != nil {
			p.fsys = run.log
		}
	}
	entries, err := p.list(dirNodes)
	if err != nil {
		return nil, nil, err
	}
	p.repo.Nodes = make(map[string]Node, len(entries))
	run.listIDs(entries)
	var parse []entry
	for _, e := range entries {
		if n, ok := r.Nodes[e.name]; ok { // read already, by ParseForNode
			p.repo.Nodes[e.name] = n
			continue
		}
		if run.reuse(p, e) {
			continue
		}
		parse = append(parse, e)
	}
	err = p.nodes(parse, func(i int, check func() error) error {
		before := len(p.errs)
		run.record()
		if err := check(); err != nil {
			return err
		}
		if c != nil {
			c.parsed++
		}
		run.keep(p, parse[i], slices.Clone(p.errs[before:]))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// A node counts only if no error names its file; a name given by two
	// files (a.yaml and a.yml) counts for neither.
	bad := map[string]bool{}
	for _, e := range p.errs {
		bad[e.File] = true
	}
	for name := range p.repo.Nodes {
		if bad[dirNodes+"/"+name+".yaml"] || bad[dirNodes+"/"+name+".yml"] {
			delete(p.repo.Nodes, name)
		}
	}
	broken := p.errs.err()
	run.finish(p.repo.Nodes, broken)
	return p.repo.Nodes, broken, nil
}
