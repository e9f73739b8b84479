package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
)

// Repo is one revision of a fleet repo, defaults applied.
type Repo struct {
	Fleet     Fleet
	Workloads map[string]Workload
	Groups    map[string]Group
	Nodes     map[string]Node

	// files holds the bytes of every file read, by folder/name ("fleet" for
	// fleet.yaml), so that Resolve can place its errors on lines.
	files map[string]sourceFile
}

type sourceFile struct {
	name string
	data []byte
}

// maxFileSize bounds one file of the fleet repo.
const maxFileSize = 1 << 20

// The folders of a fleet repo.
const (
	dirWorkloads = "workloads"
	dirGroups    = "groups"
	dirNodes     = "nodes"
	fleetFile    = "fleet.yaml"
)

// Parse reads a whole fleet repo: fleet.yaml, workloads/*.yaml,
// groups/*.yaml and nodes/*.yaml (.yml too; other files, subfolders and
// names starting with a dot are ignored, and trust/ is left to its readers).
// It decodes every file strictly, fills in defaults and validates each
// document and the references between them. Its error joins one *Error per
// problem, sorted by file and line; an I/O error from fsys is returned as
// is.
func Parse(fsys fs.FS) (*Repo, error) { return parse(fsys, "") }

// ParseForNode is Parse for the agent of one node: of nodes/ it reads only
// nodes/<node>.yaml (or .yml), which may be absent, so that the cost does
// not grow with the size of the fleet.
func ParseForNode(fsys fs.FS, node string) (*Repo, error) {
	if err := checkName(node); err != nil {
		return nil, fmt.Errorf("node name %q: %w", node, err)
	}
	return parse(fsys, node)
}

// ParseFleet reads fleet.yaml alone, as Parse does, for tools that need
// the fleet's settings (its registries) from a repo whose other files may
// not parse yet: fleetctl pin rewrites unpinned images.
func ParseFleet(fsys fs.FS) (*Fleet, error) {
	p := &parser{fsys: fsys, repo: &Repo{files: map[string]sourceFile{}}}
	if err := p.fleet(); err != nil {
		return nil, err
	}
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return &p.repo.Fleet, nil
}

type parser struct {
	fsys  fs.FS
	repo  *Repo
	errs  errorList
	hosts fleetPolicy
	known map[string]bool // workload names with a file, parsed or not
}

// entry is one file of a kind's folder.
type entry struct{ file, name string }

func parse(fsys fs.FS, node string) (*Repo, error) {
	p := &parser{
		fsys: fsys,
		repo: &Repo{
			Workloads: map[string]Workload{},
			Groups:    map[string]Group{},
			Nodes:     map[string]Node{},
			files:     map[string]sourceFile{},
		},
		known: map[string]bool{},
	}
	if err := p.fleet(); err != nil {
		return nil, err
	}
	workloads, err := p.list(dirWorkloads)
	if err != nil {
		return nil, err
	}
	groups, err := p.list(dirGroups)
	if err != nil {
		return nil, err
	}
	var nodes []entry
	if node == "" {
		nodes, err = p.list(dirNodes)
	} else {
		nodes, err = p.candidates(dirNodes, node)
	}
	if err != nil {
		return nil, err
	}
	for _, e := range workloads {
		p.known[e.name] = true
	}
	for _, e := range workloads {
		if err := p.workload(e); err != nil {
			return nil, err
		}
	}
	for _, e := range groups {
		if err := p.group(e); err != nil {
			return nil, err
		}
	}
	if err := p.nodes(nodes, nil); err != nil {
		return nil, err
	}
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return p.repo, nil
}

// list returns the YAML files of dir, reporting two files of one name.
func (p *parser) list(dir string) ([]entry, error) {
	fi, err := fs.Stat(p.fsys, dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", dir, err)
	case !fi.IsDir():
		p.errs.add(dir, 0, "", fmt.Errorf("want a folder of %s/*.yaml files, got a file", dir))
		return nil, nil
	}
	des, err := fs.ReadDir(p.fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []entry
	seen := map[string]string{}
	for _, de := range des {
		name, ok := yamlName(de.Name())
		if !ok || de.IsDir() {
			continue
		}
		file := dir + "/" + de.Name()
		if err := checkName(name); err != nil {
			p.errs.add(file, 0, "", fmt.Errorf("invalid file name: the name before the extension %w", err))
			continue
		}
		if first, dup := seen[name]; dup {
			p.errs.add(file, 0, "", fmt.Errorf("duplicate name %q: %s has it too", name, first))
			continue
		}
		seen[name] = file
		out = append(out, entry{file: file, name: name})
	}
	return out, nil
}

// candidates is list for the one name it can hold, without listing dir.
func (p *parser) candidates(dir, name string) ([]entry, error) {
	var out []entry
	for _, ext := range []string{".yaml", ".yml"} {
		file := dir + "/" + name + ext
		fi, err := fs.Stat(p.fsys, file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", file, err)
		case fi.IsDir():
			continue
		case len(out) > 0:
			p.errs.add(file, 0, "", fmt.Errorf("duplicate name %q: %s has it too", name, out[0].file))
			continue
		}
		out = append(out, entry{file: file, name: name})
	}
	return out, nil
}

// yamlName returns a file name without its .yaml or .yml extension; ok is
// false for other files and hidden ones.
func yamlName(base string) (name string, ok bool) {
	if strings.HasPrefix(base, ".") {
		return "", false
	}
	for _, ext := range []string{".yaml", ".yml"} {
		if n, found := strings.CutSuffix(base, ext); found && n != "" {
			return n, true
		}
	}
	return "", false
}

// read returns a file's bytes; a file too large to be a spec, or a
// symbolic link a git tree reports without following it, is reported and
// returns nil.
func (p *parser) read(file string) ([]byte, error) {
	f, err := p.fsys.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		p.errs.add(file, 0, "", errors.New("is a symbolic link: only regular files are read"))
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		p.errs.add(file, 0, "", fmt.Errorf("file is larger than %d bytes", maxFileSize))
		return nil, nil
	}
	return data, nil
}

// decode reads and decodes one file into v, remembering its bytes under key.
func (p *parser) decode(file, key string, v any) (checker, bool, error) {
	data, err := p.read(file)
	if err != nil {
		return checker{}, false, fmt.Errorf("read %s: %w", file, err)
	}
	if data == nil {
		return checker{}, false, nil
	}
	doc, ok := decodeFile(file, data, v, &p.errs)
	if ok {
		p.repo.files[key] = sourceFile{name: file, data: data}
	}
	return checker{doc: doc, errs: &p.errs}, ok, nil
}

func (p *parser) fleet() error {
	switch fi, err := fs.Stat(p.fsys, fleetFile); {
	case errors.Is(err, fs.ErrNotExist):
		p.errs.add(fleetFile, 0, "", errors.New("file is missing: a fleet repo needs fleet.yaml (kind Fleet) at its root"))
		return nil
	case err == nil && fi.IsDir():
		p.errs.add(fleetFile, 0, "", errors.New("want a file, got a folder"))
		return nil
	}
	var f Fleet
	c, ok, err := p.decode(fleetFile, "fleet", &f)
	if err != nil || !ok {
		return err
	}
	f.Spec.setDefaults()
	checkHeader(c.report, f.TypeMeta, f.Metadata, KindFleet, fleetFile, "")
	checkFleet(c.report, &f.Spec)
	p.repo.Fleet = f
	p.hosts = policyOf(&f.Spec)
	for _, b := range c.doc.bad {
		for _, field := range []string{"hostPaths", "sandbox"} {
			if hasPrefix(b, fieldPath{}.key("spec").key(field)) || hasPrefix(fieldPath{}.key("spec").key(field), b) {
				p.hosts.known = false
			}
		}
	}
	return nil
}

func (p *parser) workload(e entry) error {
	var w Workload
	c, ok, err := p.decode(e.file, dirWorkloads+"/"+e.name, &w)
	if err != nil || !ok {
		return err
	}
	w.Spec.setDefaults()
	checkHeader(c.report, w.TypeMeta, w.Metadata, KindWorkload, dirWorkloads+"/", e.name)
	checkSpec(c.report, fieldPath{}.key("spec"), &w.Spec, p.hosts, false)
	if err := p.readSecrets(c.report, fieldPath{}.key("spec").key("secrets"), w.Spec.Secrets); err != nil {
		return err
	}
	p.repo.Workloads[e.name] = w
	return nil
}

func (p *parser) group(e entry) error {
	var g Group
	c, ok, err := p.decode(e.file, dirGroups+"/"+e.name, &g)
	if err != nil || !ok {
		return err
	}
	for k, o := range g.Spec.Overrides {
		o.setDefaults()
		g.Spec.Overrides[k] = o
	}
	g.Spec.Rollout.setDefaults()
	checkHeader(c.report, g.TypeMeta, g.Metadata, KindGroup, dirGroups+"/", e.name)
	sp := fieldPath{}.key("spec")
	checkLabels(c.report, sp.key("selector").key("matchLabels"), g.Spec.Selector.MatchLabels)
	assigned := p.checkRefs(c.report, sp.key("workloads"), g.Spec.Workloads)
	for _, name := range sortedKeys(g.Spec.Overrides) {
		op := sp.key("overrides").key(name)
		switch {
		case !p.known[name]:
			c.report(op, unknownWorkload(name))
		case !assigned[name]:
			c.report(op, fmt.Errorf("override for workload %q, which this group does not assign: add it to spec.workloads", name))
		}
		s := overrideSpec(g.Spec.Overrides[name])
		checkSpec(c.report, op, &s, p.hosts, true)
		if err := p.readSecrets(c.report, op.key("secrets"), g.Spec.Overrides[name].Secrets); err != nil {
			return err
		}
	}
	if g.Spec.Rollout != nil {
		checkRollout(c.report, sp.key("rollout"), g.Spec.Rollout, c.doc.root)
	}
	p.repo.Groups[e.name] = g
	return nil
}

// checkNode runs the checks of one node file after decodeNode, and adds
// its node.
func (p *parser) checkNode(e entry, d *nodeFile) error {
	if d.readErr != nil {
		return fmt.Errorf("read %s: %w", e.file, d.readErr)
	}
	p.errs = append(p.errs, d.errs...)
	if !d.ok {
		return nil
	}
	p.repo.files[dirNodes+"/"+e.name] = sourceFile{name: e.file, data: d.data}
	n := d.node
	if d.plain {
		p.repo.Nodes[e.name] = n // PlainNode reads only what passes these checks
		return nil
	}
	c := checker{doc: d.doc, errs: &p.errs}
	for k, o := range n.Spec.Overrides {
		o.setDefaults()
		n.Spec.Overrides[k] = o
	}
	checkHeader(c.report, n.TypeMeta, n.Metadata, KindNode, dirNodes+"/", e.name)
	sp := fieldPath{}.key("spec")
	p.checkRefs(c.report, sp.key("workloads"), n.Spec.Workloads)
	// Whether a group assigns an overridden workload depends on the labels
	// the agent adds; Resolve checks that.
	for _, name := range sortedKeys(n.Spec.Overrides) {
		op := sp.key("overrides").key(name)
		if !p.known[name] {
			c.report(op, unknownWorkload(name))
		}
		s := overrideSpec(n.Spec.Overrides[name])
		checkSpec(c.report, op, &s, p.hosts, true)
		if err := p.readSecrets(c.report, op.key("secrets"), n.Spec.Overrides[name].Secrets); err != nil {
			return err
		}
	}
	checkAgeRecipient(c.report, sp.key("ageRecipient"), n.Spec.AgeRecipient)
	checkStatusKey(c.report, sp.key("statusKey"), n.Spec.StatusKey)
	p.repo.Nodes[e.name] = n
	return nil
}

// checkRefs checks a list of workload names and returns it as a set.
func (p *parser) checkRefs(rep reporter, at fieldPath, names []string) map[string]bool {
	set := map[string]bool{}
	for i, name := range names {
		switch {
		case name == "":
			rep(at.index(i), errRequired)
		case set[name]:
			rep(at.index(i), fmt.Errorf("duplicate workload %q", name))
		case !p.known[name]:
			rep(at.index(i), unknownWorkload(name))
		}
		set[name] = true
	}
	return set
}

func unknownWorkload(name string) error {
	return fmt.Errorf("unknown workload %q: there is no workloads/%s.yaml", name, name)
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	return slices.Sorted(maps.Keys(m))
}
