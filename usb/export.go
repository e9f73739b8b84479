package usb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"

	"github.com/gitfleet/gitfleet/durable"
)

// ExportConfig says what an export writes.
type ExportConfig struct {
	// Repo is the fleet repo; StatusRepo, when set, holds the status refs.
	Repo, StatusRepo source.Location
	// Branch is the branch carried. Default "main".
	Branch string
	// Out is the stick's mount point (or any folder): gitfleet/ is made
	// there.
	Out string
	// Selectors (k=v) and Nodes choose the nodes; none means every node.
	Selectors []string
	Nodes     []string
	// SinceStatus makes a delta stick: only what the nodes' last reports
	// say they lack.
	SinceStatus bool
	// ImageOptions reach the registries (credentials, transport); their
	// Registries are the fleet's.
	ImageOptions image.Options
	// Progress, when set, is told of the bytes written of the total.
	Progress func(done, total int64)
	Log      *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// ErrNoSpace is an export that would not fit on the stick.
var ErrNoSpace = errors.New("not enough space on the stick")

// Export writes a stick: the branch into gitfleet/fleet.git, the images
// the chosen nodes run (every platform, with every signature) into
// gitfleet/images, and, last, gitfleet/manifest.json. It removes an old
// manifest first and keeps what is there and whole, so running it again
// resumes or refreshes a stick. It checks the free space before writing
// images, and syncs the stick before the manifest is written.
func Export(ctx context.Context, cfg ExportConfig) (*Manifest, error) {
	if cfg.Branch == "" {
		cfg.Branch = source.DefaultBranch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	sel, err := parseSelectors(cfg.Selectors)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.Out, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(dir, ManifestFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}

	// What the nodes need, from the branch head.
	remote, err := source.Open(ctx, cfg.Repo, source.OpenOptions{Branch: cfg.Branch, Depth: 1})
	if err != nil {
		return nil, err
	}
	head, err := remote.Branch(cfg.Branch)
	if err != nil {
		return nil, err
	}
	need, err := resolve(remote, head, cfg.Nodes, sel)
	if err != nil {
		return nil, err
	}
	if c := FoldCollisions(need.targets); len(c) > 0 {
		return nil, fmt.Errorf("node names that differ only by case cannot share a stick (vfat): %s", strings.Join(c, ", "))
	}
	var delta *Delta
	if cfg.SinceStatus {
		if delta, err = deltaOf(ctx, cfg, need); err != nil {
			return nil, err
		}
	}
	var haves []string
	if delta != nil {
		for _, rev := range delta.Have {
			haves = append(haves, rev)
		}
	}
	rev, err := source.Mirror(ctx, cfg.Repo, filepath.Join(dir, RepoDir), source.MirrorOptions{Branch: cfg.Branch, Nodes: need.targets, Have: haves})
	if err != nil {
		return nil, err
	}
	if rev != head {
		// The branch moved meanwhile: resolve what the stick carries.
		stick, err := source.LocalRepository(filepath.Join(dir, RepoDir))
		if err != nil {
			return nil, err
		}
		r, err := source.Open(ctx, stick, source.OpenOptions{})
		if err != nil {
			return nil, err
		}
		if need, err = resolve(r, rev, cfg.Nodes, sel); err != nil {
			return nil, err
		}
	}
	cfg.Log.Info("export", "revision", rev, "nodes", len(need.targets), "images", len(need.images))

	images, files, err := writeImages(ctx, cfg, dir, need, delta)
	if err != nil {
		return nil, err
	}
	repoFiles, err := listFiles(dir, RepoDir+"/objects/pack")
	if err != nil {
		return nil, err
	}
	if err := syncFS(dir); err != nil {
		return nil, err
	}
	m := &Manifest{
		APIVersion: APIVersion, Kind: ManifestKind, Created: cfg.Now().UTC().Truncate(time.Second),
		Repo: cfg.Repo.String(), Branch: cfg.Branch, Revision: rev,
		Selectors: cfg.Selectors, Nodes: cfg.Nodes, Targets: need.targets,
		Delta: delta, Images: images, Files: append(files, repoFiles...),
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, ManifestFile), b); err != nil {
		return nil, fmt.Errorf("write %s: %w", ManifestFile, err)
	}
	return m, nil
}

// needs is what the chosen nodes run at a revision.
type needs struct {
	targets    []string
	images     map[string][]string // image ref → the targets running it
	registries []spec.Registry
}

// resolve reads the revision and resolves the chosen nodes' workloads.
func resolve(r *source.Repo, rev string, nodes []string, sel []spec.Selector) (*needs, error) {
	fsys, _, err := r.Tree(rev)
	if err != nil {
		return nil, err
	}
	repo, err := spec.Parse(fsys)
	if err != nil {
		return nil, fmt.Errorf("revision %s does not parse: %w", rev, err)
	}
	n := &needs{images: map[string][]string{}, registries: repo.Fleet.Spec.Registries}
	for _, name := range nodes {
		if _, ok := repo.Nodes[name]; !ok {
			return nil, fmt.Errorf("--node %s: no nodes/%s.yaml in revision %.12s", name, name, rev)
		}
	}
	for name, node := range repo.Nodes {
		chosen := len(nodes) == 0 && len(sel) == 0
		for _, s := range sel {
			chosen = chosen || s.Matches(node.Metadata.Labels)
		}
		for _, want := range nodes {
			chosen = chosen || want == name
		}
		if !chosen {
			continue
		}
		desired, err := repo.Resolve(name, nil)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", name, err)
		}
		n.targets = append(n.targets, name)
		for _, d := range desired {
			n.images[d.Spec.Image] = append(n.images[d.Spec.Image], name)
		}
	}
	if len(n.targets) == 0 {
		return nil, errors.New("no node matches the --node and --selector given")
	}
	sort.Strings(n.targets)
	return n, nil
}

// parseSelectors reads k=v selectors.
func parseSelectors(in []string) ([]spec.Selector, error) {
	var out []spec.Selector
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--selector %q: want k=v", s)
		}
		out = append(out, spec.Selector{MatchLabels: map[string]string{k: v}})
	}
	return out, nil
}

// syncFS flushes the filesystem holding dir (the whole stick).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// syncDir makes a folder's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFileAtomic replaces name through a synced temp file, then syncs the
// folder.
func writeFileAtomic(name string, data []byte) error {
	return durable.WriteFile(name, data, 0o644)
}
