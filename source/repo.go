package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// OpenOptions says what Open fetches from a remote repository. A local one
// is read in place, whole, and ignores them.
type OpenOptions struct {
	// Branch, when set, is the only branch fetched (the overview); else
	// every branch and tag but the status branches (refs/heads/status/*).
	// A remote without it fails with ErrBranchNotFound.
	Branch string
	// Refs are more refs to fetch when the remote has them: full names
	// such as refs/pull/42/head. Anything else (a hash, main~1) is ignored.
	Refs []string
	// Depth is how many commits of history are fetched; 0 means all.
	Depth int
}

// Repo is a repository opened for reading revisions, by the operator's
// tools: fleetctl's validate, plan and verify, and the fleet overview. It
// is safe for concurrent use.
type Repo struct {
	mu   sync.Mutex // go-git storage is not safe for concurrent use
	repo *git.Repository
	loc  Location
	// blobs reads many blobs at once from a local repository's packs in
	// memory; nil for a remote one, whose objects are held inflated.
	blobs *packBlobs
	// trees and found are the caches of every Tree's FS, shared: two
	// revisions have most trees in common (a fleet's nodes/ of 10,000
	// files is decoded once). Guarded by mu.
	trees map[plumbing.Hash]*dirTree
	found map[string]entry
}

// Open opens the repository at loc. A local one (a work tree, any folder
// inside one, or a bare repository) is read in place and never written. A
// remote one is fetched into memory as opts say, keeping the refs' names,
// and its HEAD too.
func Open(ctx context.Context, loc Location, opts OpenOptions) (*Repo, error) {
	if loc.IsZero() {
		return nil, errors.New("source: open: no location")
	}
	if dir := loc.Dir(); dir != "" {
		r, err := git.PlainOpen(dir)
		if errors.Is(err, git.ErrRepositoryNotExists) {
			r, err = git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
		}
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", dir, err)
		}
		// go-git opens a pack file for every object it reads from it
		// unless told to keep a few open: reading a fleet's 10,000 node
		// files spent half its time opening files.
		if st, ok := r.Storer.(*filesystem.Storage); ok {
			wt, _ := r.Worktree()
			var wfs billy.Filesystem
			if wt != nil {
				wfs = wt.Filesystem
			}
			packs := newMemPacks(st.Filesystem(), maxMemPacks)
			kept := filesystem.NewStorageWithOptions(packs, cache.NewObjectLRUDefault(), filesystem.Options{MaxOpenDescriptors: 8})
			if r, err = git.Open(kept, wfs); err != nil {
				return nil, fmt.Errorf("open repository %s: %w", dir, err)
			}
			return &Repo{repo: r, loc: loc, blobs: &packBlobs{packs: packs}}, nil
		}
		return &Repo{repo: r, loc: loc}, nil
	}
	return fetchRepo(ctx, loc, opts)
}

// fetchRepo fetches what opts name from the remote loc into memory.
func fetchRepo(ctx context.Context, loc Location, opts OpenOptions) (*Repo, error) {
	ref := "refs/heads/*"
	if opts.Branch != "" {
		if err := checkBranch(opts.Branch); err != nil {
			return nil, err
		}
		ref = plumbing.NewBranchReferenceName(opts.Branch).String()
	}
	fail := func(err error) error { return remoteError("fetch", loc, ref, err) }
	auth, err := authMethod(loc, sshConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", loc, err)
	}
	st := memory.NewStorage()
	r, err := git.Init(st, nil)
	if err != nil {
		return nil, err
	}
	if opts.Branch != "" && len(opts.Refs) == 0 {
		// One branch (the overview): asked for with protocol v2, so
		// that the status refs beside it are not advertised.
		err := fetchBranchV2(ctx, loc, auth, st, ref, opts.Depth)
		if err == nil {
			return &Repo{repo: r, loc: loc}, nil
		}
		if !errors.Is(err, errNoV2Fetch) {
			return nil, fail(err)
		}
	}
	rem := git.NewRemote(st, &config.RemoteConfig{Name: "origin", URLs: []string{loc.url}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		refs, err = nil, nil
	}
	if err != nil {
		return nil, fail(err)
	}
	var specs []config.RefSpec
	var head *plumbing.Reference
	for _, rf := range refs {
		n := rf.Name()
		switch {
		case n == plumbing.HEAD:
			head = rf
		case opts.Branch != "" && n.String() == ref,
			opts.Branch == "" && (n.IsBranch() && !strings.HasPrefix(n.String(), statusPrefix) || n.IsTag()),
			slices.Contains(opts.Refs, n.String()):
			specs = append(specs, config.RefSpec("+"+n.String()+":"+n.String()))
		}
	}
	switch {
	case opts.Branch != "" && !slices.ContainsFunc(specs, func(s config.RefSpec) bool { return s.Src() == ref }):
		return nil, fail(ErrBranchNotFound)
	case len(specs) == 0:
		return nil, fail(errors.New("the repository has no branch"))
	}
	err = fetch(ctx, rem, &git.FetchOptions{RefSpecs: specs, Depth: opts.Depth, Auth: auth, Tags: git.NoTags, Force: true})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fail(err)
	}
	if head != nil {
		if head.Type() == plumbing.HashReference {
			err = st.SetReference(plumbing.NewHashReference(plumbing.HEAD, head.Hash()))
		} else {
			err = st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, head.Target()))
		}
		if err != nil {
			return nil, err
		}
	}
	return &Repo{repo: r, loc: loc}, nil
}

// Branch returns the commit refs/heads/<name> points at; the error wraps
// ErrBranchNotFound when there is no such branch.
func (r *Repo) Branch(name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref, err := r.repo.Reference(plumbing.NewBranchReferenceName(name), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", fmt.Errorf("%s branch %s: %w", r.loc, name, ErrBranchNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("%s branch %s: %w", r.loc, name, err)
	}
	return ref.Hash().String(), nil
}

// Commit resolves rev (a hash, branch, tag, ref or expression such as
// main~1) to its commit, for signature checks (trust).
func (r *Repo) Commit(rev string) (*object.Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commit(rev)
}

func (r *Repo) commit(rev string) (*object.Commit, error) {
	// A commit named by its full id (as CI names a pull request's base
	// and head) is read from the packs in memory when it is there, as go-git
	// resolves it first too; go-git would decode the packs' whole indexes
	// first.
	if id, err := parseHash(rev); err == nil && id.String() == rev && r.blobs != nil {
		if o, ok := r.blobs.object(id); ok && o.typ == plumbing.CommitObject {
			if c, err := object.DecodeCommit(r.repo.Storer, o); err == nil {
				return c, nil
			}
		}
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("revision %q in %s: %w", rev, r.loc, err)
	}
	c, err := r.repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("revision %q in %s: %w", rev, r.loc, err)
	}
	return c, nil
}

// Tree returns the files of rev's commit and the commit's hash. The FS
// is the same one the agent reads (see the package doc).
func (r *Repo) Tree(rev string) (fs.FS, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.commit(rev)
	if err != nil {
		return nil, "", err
	}
	f := newTreeFS(&r.mu, r.repo.Storer, c.TreeHash)
	f.blobs = r.blobs
	if r.trees == nil {
		r.trees, r.found = f.trees, f.found
	}
	f.trees, f.found = r.trees, r.found
	return f, c.Hash.String(), nil
}

// Parents returns the parents of commit hash. The error wraps
// ErrRevisionNotFound when the commit is not in the repository (beyond
// the history a shallow fetch brought).
func (r *Repo) Parents(hash string) ([]string, error) {
	h, err := parseHash(hash)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := object.GetCommit(r.repo.Storer, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("%w: %s in %s", ErrRevisionNotFound, hash, r.loc)
	}
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", hash, err)
	}
	out := make([]string, len(c.ParentHashes))
	for i, p := range c.ParentHashes {
		out[i] = p.String()
	}
	return out, nil
}

// fetchBranchV2 fetches ref (depth commits, 0 all) into st with protocol
// v2: ls-refs for that ref alone, then fetch. A server without v2 yields
// errNoV2Fetch before anything is stored.
func fetchBranchV2(ctx context.Context, loc Location, auth transport.AuthMethod, st *memory.Storage, ref string, depth int) error {
	lister, err := newRefLister(loc, auth, sshConnectTimeout, nil)
	if err != nil {
		return err
	}
	refs, err := lister.list(ctx, ref)
	if err != nil {
		return err
	}
	if lister.Protocol() != ProtocolV2 {
		return errNoV2Fetch
	}
	head, ok := refs[ref]
	if !ok {
		return ErrBranchNotFound
	}
	shallows, err := lister.fetchV2Depth(ctx, depth, []plumbing.Hash{head}, nil, nil, func(pack io.Reader) error {
		return readPackInto(st, pack, nil)
	})
	if err != nil {
		return err
	}
	if err := st.SetShallow(shallows); err != nil {
		return err
	}
	return st.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(ref), head))
}
