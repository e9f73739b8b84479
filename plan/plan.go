package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
)

// Revision is one side of a plan: a name for the output (a commit hash)
// and the revision's files. FS must be safe for concurrent use; if it
// implements FileHasher, unchanged files are recognised without reading
// them.
type Revision struct {
	Name string
	FS   fs.FS
}

// FileHasher is implemented by file systems that know a content id of each
// file, such as a git tree's blob ids. Equal ids mean equal contents.
type FileHasher interface {
	FileHash(name string) (string, error)
}

// Options configure Compute.
type Options struct {
	// Manifests reads image layers to count the bytes each node downloads;
	// nil leaves the bytes out.
	Manifests Manifests
	// Concurrency bounds the manifests read at once. Default 8.
	Concurrency int
	// Images, when set, verifies every image nodes download at head as
	// fleetd will (the digest exists, signed by head's image keys); nil
	// leaves signatures unchecked.
	Images ImageVerifier

	// parseAll is the plan without shortcuts, which tests compare with:
	// every node file of head parsed, every node file parsed by
	// spec.Parse, every node resolved on its own.
	parseAll bool
}

// Plan is what merging head over base changes on every node.
type Plan struct {
	Base    string     `json:"base"`
	Head    string     `json:"head"`
	Summary Summary    `json:"summary"`
	Nodes   []NodePlan `json:"nodes"`
	// Images are the images nodes download, each with its size or why it
	// is unknown.
	Images []ImageInfo `json:"images"`
	// Errors are Resolve errors of head: those nodes refuse the revision
	// and keep what they run.
	Errors []Finding `json:"errors"`
	// Notes say what the plan leaves out.
	Notes []string `json:"notes"`
	// ImageChecks are the verdicts on the references of the images nodes
	// download, with file and field (Options.Images); a refused one is
	// also in Errors.
	ImageChecks []ImageCheck `json:"imageChecks,omitempty"`
	// Unreachable are the image references that could not be checked:
	// the registry could not be reached.
	Unreachable []Finding `json:"unreachable,omitempty"`
}

// Summary counts the changes of a plan.
type Summary struct {
	Nodes            int `json:"nodes"`
	NodesChanged     int `json:"nodesChanged"`
	WorkloadsAdded   int `json:"workloadsAdded"`
	WorkloadsChanged int `json:"workloadsChanged"`
	WorkloadsRemoved int `json:"workloadsRemoved"`
	// DownloadBytes is the sum over nodes of the compressed layers each
	// must download; a lower bound when DownloadComplete is false.
	DownloadBytes    int64 `json:"downloadBytes"`
	DownloadComplete bool  `json:"downloadComplete"`
}

// NodePlan is one node's changes. Only nodes that change (or whose head
// does not resolve) are listed.
type NodePlan struct {
	Name    string     `json:"name"`
	File    string     `json:"file,omitempty"` // "added" or "removed" when nodes/<name>.yaml is
	Added   []Workload `json:"added"`
	Changed []Change   `json:"changed"`
	Removed []Workload `json:"removed"`
	Errors  []Finding  `json:"errors,omitempty"`
	Bytes   int64      `json:"downloadBytes"`
	Unknown []string   `json:"unknownImages,omitempty"` // images whose layers could not be read
	// Waves are the node's rollout waves at head, one per group with a
	// spec.rollout that selects it.
	Waves []NodeWave `json:"waves,omitempty"`

	baseImages []string // every image the node runs at base
	newImages  []string // images of added workloads and changed images
}

// NodeWave is the wave of a node in one group's rollout.
type NodeWave struct {
	Group string `json:"group"`
	Wave  string `json:"wave"`
	Index int    `json:"index"` // 0 for the first wave
}

// addWaves sets the waves of the plan's nodes and returns the note that
// says how the change rolls out.
func addWaves(p *Plan, head *spec.Repo) string {
	byNode := map[string][]NodeWave{}
	for _, name := range slices.Sorted(maps.Keys(head.Groups)) {
		g := head.Groups[name]
		if g.Spec.Rollout == nil {
			continue
		}
		for i, w := range rollout.Assign(g, rollout.Members(head, g, "", nil)) {
			for _, n := range w.Nodes {
				byNode[n] = append(byNode[n], NodeWave{Group: name, Wave: w.Name, Index: i})
			}
		}
	}
	staged := false
	for i := range p.Nodes {
		p.Nodes[i].Waves = byNode[p.Nodes[i].Name]
		staged = staged || len(p.Nodes[i].Waves) > 0
	}
	if !staged {
		return "Rollout waves: none of these nodes is in a group with spec.rollout, so each applies the change at its next poll."
	}
	return "Rollout waves: a node in a wave applies the change once enough nodes of the wave before it report it healthy (its group's spec.rollout.gate); the others at their next poll."
}

// Workload is a workload added to or removed from a node.
type Workload struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// Change is a workload whose container is replaced.
type Change struct {
	Name   string        `json:"name"`
	Fields []FieldChange `json:"fields"`
}

// FieldChange is one field of a changed workload: "image", "args",
// "env.KEY", "ports", "mounts", "resources", "health" or "restart", with
// its old and new value (images as references, others as JSON).
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// ImageInfo is an image some node downloads.
type ImageInfo struct {
	Ref   string `json:"ref"`
	Nodes int    `json:"nodes"`
	// Bytes is the compressed size of all its layers.
	Bytes int64  `json:"bytes"`
	Error string `json:"error,omitempty"`
	// Signature is the image's check: ImageVerified, ImageRefused or
	// ImageUnreachable; "" when not checked.
	Signature string `json:"signature,omitempty"`
}

// Compute plans the change from base to head. It compares the two trees
// by file ids, parses fleet.yaml, workloads/ and groups/ of both, and of
// nodes/ only the files that changed and the unchanged ones a changed
// group, workload or secret may reach (see candidates; every one when
// fleet.yaml changed); it resolves each of those nodes at most once per
// revision (and not at all when nothing it depends on changed), and reads
// each image's manifest at most once.
//
// A head or base that does not parse is an error holding the revision's
// *spec.Error list (see Findings); a node whose head does not resolve is
// listed with its errors in the plan. A node file left out is equal at
// base and head and is not checked here: fleetctl validate checks every
// file.
func Compute(ctx context.Context, base, head Revision, opts Options) (*Plan, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	base.FS, head.FS = listOnce(base.FS), listOnce(head.FS)
	var cores <-chan coreRepos
	if !opts.parseAll {
		cores = parseCores(base, head)
	}
	d, err := newDiffer(base, head)
	if err != nil {
		if cores != nil {
			<-cores
		}
		return nil, err
	}
	if d.fleetChanged && cores != nil {
		<-cores // not needed: every node file is read
	}
	headRepo, hidden, baseCore, err := loadHead(base, head, d, opts.parseAll, cores)
	if err != nil {
		return nil, err
	}
	if err := d.markSecretChanges(base, head, headRepo); err != nil {
		return nil, err
	}
	baseRepo, err := loadBase(base, d, opts.parseAll, baseCore)
	if err != nil {
		return nil, err
	}
	for file := range d.nodeSame {
		if n, ok := headRepo.Nodes[baseName(file)]; ok {
			if _, parsed := baseRepo.Nodes[n.Metadata.Name]; !parsed {
				baseRepo.Nodes[n.Metadata.Name] = n
			}
		}
	}
	p := &Plan{
		Base:   base.Name,
		Head:   head.Name,
		Nodes:  []NodePlan{},
		Images: []ImageInfo{},
		Errors: []Finding{},
		Notes: []string{
			"Nodes are resolved with the labels of nodes/*.yaml alone; labels fleetd adds with --labels are not known here.",
		},
	}
	p.Summary.Nodes = len(headRepo.Nodes) + hidden

	names := slices.Sorted(maps.Keys(headRepo.Nodes))
	for n := range baseRepo.Nodes {
		if _, ok := headRepo.Nodes[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var todo []string
	for _, n := range names {
		if d.affected(n, baseRepo, headRepo) {
			todo = append(todo, n)
		}
	}
	baseRes := resolveAll(baseRepo, todo, !opts.parseAll)
	headRes := resolveAll(headRepo, todo, !opts.parseAll)
	if nps := diffNodes(todo, baseRepo, headRepo, baseRes, headRes); nps != nil {
		p.Nodes = nps
	}
	for _, np := range p.Nodes {
		p.Errors = append(p.Errors, np.Errors...)
	}
	if err := countBytes(ctx, p, opts, headRepo.Fleet.Spec.Registries); err != nil {
		return nil, err
	}
	checkPlanImages(ctx, p, head.FS, headRepo, opts)
	p.Notes = append([]string{addWaves(p, headRepo)}, p.Notes...)
	p.summarize()
	return p, nil
}

// RevisionError is a revision that does not parse.
type RevisionError struct {
	Which string // "base" or "head"
	Rev   string
	Err   error
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("%s %s does not parse: %v", e.Which, e.Rev, e.Err)
}

func (e *RevisionError) Unwrap() error { return e.Err }

// Findings lists the *spec.Error joined in err as findings; ok is false
// when err holds anything else.
func Findings(err error) (found []Finding, ok bool) {
	var re *RevisionError
	if errors.As(err, &re) {
		err = re.Err
	}
	return findings(err)
}

func (p *Plan) summarize() {
	s := &p.Summary
	s.DownloadComplete = true
	for _, n := range p.Nodes {
		if len(n.Added)+len(n.Changed)+len(n.Removed) > 0 {
			s.NodesChanged++
		}
		s.WorkloadsAdded += len(n.Added)
		s.WorkloadsChanged += len(n.Changed)
		s.WorkloadsRemoved += len(n.Removed)
		s.DownloadBytes += n.Bytes
		if len(n.Unknown) > 0 {
			s.DownloadComplete = false
		}
	}
}

// differ knows which files differ between base and head.
type differ struct {
	fleetChanged     bool
	workloadsChanged map[string]bool // by name: changed, added or removed
	groupsChanged    map[string]bool
	nodeSame         map[string]bool // node file names equal in both
	// nodesEqual: nodes/ is one tree in both, of nodeFiles files (all in
	// nodeSame until a changed secret file takes the nodes naming it out).
	nodesEqual bool
	nodeFiles  int
}

func newDiffer(base, head Revision) (*differ, error) {
	d := &differ{}
	bf, err := fileID(base.FS, "fleet.yaml")
	if err != nil {
		return nil, err
	}
	hf, err := fileID(head.FS, "fleet.yaml")
	if err != nil {
		return nil, err
	}
	d.fleetChanged = bf != hf
	if d.workloadsChanged, _, err = dirDiff(base.FS, head.FS, "workloads"); err != nil {
		return nil, err
	}
	if d.groupsChanged, _, err = dirDiff(base.FS, head.FS, "groups"); err != nil {
		return nil, err
	}
	if d.nodesEqual, err = sameDir(base.FS, head.FS, "nodes"); err != nil {
		return nil, err
	}
	if d.nodesEqual {
		// One listing, of names: every file is in both, equal.
		des, err := fs.ReadDir(head.FS, "nodes")
		if err != nil {
			return nil, err
		}
		d.nodeSame = make(map[string]bool, len(des))
		for _, de := range des {
			if !de.IsDir() {
				d.nodeSame[de.Name()] = true
			}
		}
		d.nodeFiles = len(d.nodeSame)
	} else if _, d.nodeSame, err = dirDiff(base.FS, head.FS, "nodes"); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *differ) unchangedNodeFile(file string) bool { return d.nodeSame[file] }

// affected reports whether node n may run something else at head: its file
// changed, fleet.yaml changed, or a group that selects it or a workload it
// may run changed.
func (d *differ) affected(n string, base, head *spec.Repo) bool {
	if d.fleetChanged {
		return true
	}
	same := false
	for _, ext := range []string{".yaml", ".yml"} {
		same = same || d.nodeSame[n+ext]
	}
	if !same {
		return true
	}
	node := head.Nodes[n]
	labels := node.Metadata.Labels
	for g := range d.groupsChanged {
		for _, r := range []*spec.Repo{base, head} {
			if grp, ok := r.Groups[g]; ok && grp.Spec.Selector.Matches(labels) {
				return true
			}
		}
	}
	uses := func(w string) bool { return d.workloadsChanged[w] }
	if slices.ContainsFunc(node.Spec.Workloads, uses) {
		return true
	}
	for w := range node.Spec.Overrides {
		if uses(w) {
			return true
		}
	}
	for _, g := range head.Groups {
		if g.Spec.Selector.Matches(labels) && slices.ContainsFunc(g.Spec.Workloads, uses) {
			return true
		}
	}
	return false
}
