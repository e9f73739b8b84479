package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrIncomplete matches (errors.Is) a local repository that lacks an
// object its refs need: a damaged or truncated copy (a USB stick pulled out
// while it was written, or an export that did not finish).
var ErrIncomplete = errors.New("repository incomplete")

// LocalRepository is the Location of a bare repository on this machine
// that is read and written in process, by go-git alone: no git program
// runs on it, so a repository this node does not own, such as a USB
// stick's gitfleet/fleet.git, is used without git's ownership check and
// none of its own hooks or settings take effect; symbolic links leading
// out of dir are refused. The agent (New), the StatusWriter and
// ReadReports treat it like any other location: Head reads its ref, Tree
// and Deepen copy the objects the store lacks, a report is written with
// every file synced before the ref moves (see writeLocal).
func LocalRepository(dir string) (Location, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Location{}, fmt.Errorf("source: location %s: %w", dir, err)
	}
	l := localLocation(abs, Auth{})
	l.inProcess = true
	return l, nil
}

// openInProcess opens an in-process location's repository.
func openInProcess(l Location) (*filesystem.Storage, error) {
	fi, err := os.Stat(filepath.Join(l.dir, "objects"))
	if err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("open repository %s: not a bare git repository", l.dir)
	}
	fsys := osfs.New(l.dir, osfs.WithBoundOS())
	return filesystem.NewStorageWithOptions(fsys, cache.NewObjectLRU(objectCacheSize),
		filesystem.Options{MaxOpenDescriptors: 8}), nil
}

// localRefs reads the refs among names from an in-process location.
func localRefs(l Location, names []string) (map[string]plumbing.Hash, error) {
	s, err := openInProcess(l)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	out := map[string]plumbing.Hash{}
	for _, n := range names {
		ref, err := s.Reference(plumbing.ReferenceName(n))
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s in %s: %w", n, l.dir, err)
		}
		if ref.Type() != plumbing.HashReference {
			return nil, fmt.Errorf("read %s in %s: not a commit", n, l.dir)
		}
		out[n] = ref.Hash()
	}
	return out, nil
}

// fetchInProcess is fetchOnce for an in-process location: it copies the
// branch head and depth commits of its history (0: all) into the store,
// with every tree and blob the store lacks, marks where the copied history
// stops as shallow, and sets the branch ref.
func (g *Git) fetchInProcess(ctx context.Context, depth int) error {
	src, err := openInProcess(g.cfg.Location)
	if err != nil {
		return err
	}
	defer src.Close()
	ref, err := src.Reference(g.ref)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return ErrBranchNotFound
	}
	if err != nil {
		return err
	}
	if err := copyHistory(ctx, src, g.store.s, ref.Hash(), depth); err != nil {
		return err
	}
	return g.store.s.SetReference(plumbing.NewHashReference(g.ref, ref.Hash()))
}

// copyHistory copies commit want and its history, depth generations of it
// (0: all), from src into dst: each commit the walk meets, and the trees
// and blobs of those commits that dst lacks (a tree dst has is complete
// there). A commit dst holds is not copied again, but the walk goes on
// through it, so a deeper copy reaches further back. Commits whose parents
// stay out of dst are added to dst's shallow list. An object src lacks
// fails the copy with ErrIncomplete, unless it is a parent src itself
// marks shallow.
func copyHistory(ctx context.Context, src *filesystem.Storage, dst storage.Storer, want plumbing.Hash, depth int) error {
	return copyHistoryTo(ctx, src, dst, want, depth, nil)
}

// copyHistoryTo is copyHistory writing the pack and its index itself into
// objects/pack below repo (dst's folder), each file synced (see
// writePack), rather than through dst's pack writer, which reads back the
// pack it writes through a second handle: some FUSE filesystems (fusefat)
// refuse that. dst does not see the new pack until it is opened again.
func copyHistoryTo(ctx context.Context, src *filesystem.Storage, dst storage.Storer, want plumbing.Hash, depth int, repo *os.Root) error {
	c := &copier{src: src, dst: dst, seen: map[plumbing.Hash]bool{}, repo: repo}
	srcShallow, err := src.Shallow()
	if err != nil {
		return err
	}
	var shallow []plumbing.Hash
	level := []plumbing.Hash{want}
	for gen := 1; len(level) > 0; gen++ {
		var next []plumbing.Hash
		for _, h := range level {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if c.seen[h] {
				continue
			}
			c.seen[h] = true
			commit, err := c.commit(h)
			if err != nil {
				return err
			}
			if err := c.tree(commit.TreeHash); err != nil {
				return err
			}
			if (depth > 0 && gen >= depth) || slices.Contains(srcShallow, h) {
				if !c.parentsIn(dst, commit) {
					shallow = append(shallow, h)
				}
				continue
			}
			next = append(next, commit.ParentHashes...)
		}
		level = next
	}
	if err := c.write(ctx); err != nil {
		return err
	}
	have, err := dst.Shallow()
	if err != nil {
		return err
	}
	for _, h := range shallow {
		if !slices.Contains(have, h) {
			have = append(have, h)
		}
	}
	return dst.SetShallow(have)
}

// copier collects the objects to copy.
type copier struct {
	src    *filesystem.Storage
	dst    storage.Storer
	seen   map[plumbing.Hash]bool
	hashes []plumbing.Hash // to copy, in the order met
	// repo, when set, receives the pack (see copyHistoryTo).
	repo *os.Root
}

func (c *copier) has(h plumbing.Hash) bool { return c.dst.HasEncodedObject(h) == nil }

func (c *copier) missing(kind string, h plumbing.Hash, err error) error {
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return fmt.Errorf("%w: %s %s is missing", ErrIncomplete, kind, h)
	}
	return fmt.Errorf("read %s %s: %w", kind, h, err)
}

// commit reads commit h from dst when it is there, else from src (and
// notes it for the copy).
func (c *copier) commit(h plumbing.Hash) (*object.Commit, error) {
	if c.has(h) {
		if commit, err := object.GetCommit(c.dst, h); err == nil {
			return commit, nil
		}
	}
	commit, err := object.GetCommit(c.src, h)
	if err != nil {
		return nil, c.missing("commit", h, err)
	}
	c.hashes = append(c.hashes, h)
	return commit, nil
}

// tree notes tree h and everything below it that dst lacks.
func (c *copier) tree(h plumbing.Hash) error {
	if c.seen[h] || c.has(h) {
		return nil
	}
	c.seen[h] = true
	t, err := object.GetTree(c.src, h)
	if err != nil {
		return c.missing("tree", h, err)
	}
	c.hashes = append(c.hashes, h)
	for _, e := range t.Entries {
		switch {
		case e.Mode == filemode.Dir:
			if err := c.tree(e.Hash); err != nil {
				return err
			}
		case e.Mode == filemode.Submodule, c.seen[e.Hash], c.has(e.Hash):
		default:
			if err := c.src.HasEncodedObject(e.Hash); err != nil {
				return c.missing("blob", e.Hash, err)
			}
			c.seen[e.Hash] = true
			c.hashes = append(c.hashes, e.Hash)
		}
	}
	return nil
}

// parentsIn reports whether every parent of commit is in s.
func (c *copier) parentsIn(s storer.EncodedObjectStorer, commit *object.Commit) bool {
	for _, p := range commit.ParentHashes {
		if s.HasEncodedObject(p) != nil && !slices.Contains(c.hashes, p) {
			return false
		}
	}
	return true
}

// write copies the noted objects into dst as one pack, streamed.
func (c *copier) write(ctx context.Context) error {
	if len(c.hashes) == 0 {
		return nil
	}
	if c.repo != nil {
		var b bytes.Buffer
		if _, err := packfile.NewEncoder(&b, c.src, false).Encode(c.hashes, 10); err != nil {
			return err
		}
		return writePack(c.repo, "objects/pack", b.Bytes())
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := packfile.NewEncoder(pw, c.src, false).Encode(c.hashes, 10)
		pw.CloseWithError(err)
	}()
	err := packfile.UpdateObjectStorage(c.dst, pr)
	pr.CloseWithError(errors.New("copy stopped"))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return fmt.Errorf("%w: %v", ErrIncomplete, err)
	}
	return err
}

// readReportsInProcess is readReports for a LocalRepository: the status
// refs and their reports are read in place.
func readReportsInProcess(l Location, nodes []string) (map[string]Report, error) {
	src, err := openInProcess(l)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	heads := map[string]plumbing.Hash{}
	add := func(r *plumbing.Reference) error {
		node, ok := strings.CutPrefix(r.Name().String(), statusPrefix)
		if ok && validNode(node) && r.Type() == plumbing.HashReference && (nodes == nil || slices.Contains(nodes, node)) {
			heads[node] = r.Hash()
		}
		return nil
	}
	iter, err := src.IterReferences()
	if err == nil {
		err = iter.ForEach(add)
	}
	if err != nil {
		// A stray file among the refs (a writer cut off by an older
		// gitfleet, an empty file) fails go-git's listing: list the
		// status refs' folder instead, each ref read alone.
		heads = map[string]plumbing.Hash{}
		ents, derr := os.ReadDir(filepath.Join(l.dir, "refs", "heads", "status"))
		if derr != nil && !errors.Is(derr, os.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			if r, rerr := src.Reference(statusRef(e.Name())); rerr == nil && validNode(e.Name()) {
				add(r)
			}
		}
	}
	reports := make(map[string]Report, len(heads))
	for n, h := range heads {
		reports[n] = readReport(src, n, h)
	}
	return reports, nil
}
