package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// MirrorOptions say what Mirror copies.
type MirrorOptions struct {
	// Branch is the branch copied. Default "main".
	Branch string
	// Nodes are the nodes whose status refs are copied (depth 1), unless
	// the mirror holds one for the node already: a report a node wrote
	// there is never replaced.
	Nodes []string
	// Have are revisions the readers of the mirror hold (what nodes
	// applied): history older than all of them is left out, those
	// revisions stay so that readers can prove descent. None: the branch's
	// whole history.
	Have []string
}

// Mirror copies the branch and the status refs opts names from loc into
// the bare repository at dir (created when missing) and returns the
// branch's head. It fetches into a scratch store first (deeper and deeper
// until every have is in), then copies exactly the history wanted into
// dir, in process. Run again, it brings the mirror up to date. It is how
// fleetctl usb export fills a stick's gitfleet/fleet.git; the caller syncs
// the medium before it records the export as finished.
func Mirror(ctx context.Context, loc Location, dir string, opts MirrorOptions) (string, error) {
	if opts.Branch == "" {
		opts.Branch = DefaultBranch
	}
	if err := checkBranch(opts.Branch); err != nil {
		return "", err
	}
	haves := make([]plumbing.Hash, 0, len(opts.Have))
	for _, h := range opts.Have {
		hash, err := parseHash(h)
		if err != nil {
			return "", err
		}
		haves = append(haves, hash)
	}
	for _, n := range opts.Nodes {
		if !validNode(n) {
			return "", fmt.Errorf("status: invalid node name %q", n)
		}
	}
	auth, err := authMethod(loc, sshConnectTimeout)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", loc, err)
	}
	scratch, err := os.MkdirTemp("", "gitfleet-mirror-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	tmp, err := openStore(scratch)
	if err != nil {
		return "", err
	}
	fetchRef := func(ref plumbing.ReferenceName, depth int) error {
		rem := git.NewRemote(tmp.s, &config.RemoteConfig{Name: "origin", URLs: []string{loc.url}})
		err := fetch(ctx, rem, &git.FetchOptions{
			RefSpecs: []config.RefSpec{config.RefSpec("+" + ref.String() + ":" + ref.String())},
			Depth:    depth, Auth: auth, Tags: git.NoTags, Force: true,
		})
		var noMatch git.NoMatchingRefSpecError
		switch {
		case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
			return nil
		case errors.As(err, &noMatch):
			return ErrBranchNotFound
		}
		if err != nil {
			return remoteError("fetch", loc, ref.String(), err)
		}
		return nil
	}

	branch := plumbing.NewBranchReferenceName(opts.Branch)
	depth := 0
	for try := 16; ; try *= 4 {
		if len(haves) == 0 {
			try = 0
		}
		if err := fetchRef(branch, try); err != nil {
			return "", err
		}
		if err := (&Git{store: tmp}).trimShallow(); err != nil {
			return "", err
		}
		d, err := depthOf(tmp, branch, haves)
		if err != nil {
			return "", err
		}
		if try == 0 || d >= 0 {
			depth = max(d, 0)
			break
		}
	}
	dst, err := openStore(dir)
	if err != nil {
		return "", err
	}
	dst.cleanTemp()
	head, err := tmp.s.Reference(branch)
	if err != nil {
		return "", err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	if err := copyHistoryTo(ctx, tmp.s, dst.s, head.Hash(), depth, root); err != nil {
		return "", fmt.Errorf("mirror into %s: %w", dir, err)
	}
	if dst, err = openStore(dir); err != nil { // to see the new pack
		return "", err
	}
	if err := dst.s.SetReference(head); err != nil {
		return "", err
	}
	for _, n := range opts.Nodes {
		ref := statusRef(n)
		if _, err := dst.s.Reference(ref); err == nil {
			continue // the node's own report on the mirror wins
		}
		if err := fetchRef(ref, 1); errors.Is(err, ErrBranchNotFound) {
			continue
		} else if err != nil {
			return "", err
		}
		r, err := tmp.s.Reference(ref)
		if err != nil {
			return "", err
		}
		if err := copyHistoryTo(ctx, tmp.s, dst.s, r.Hash(), 1, root); err != nil {
			return "", fmt.Errorf("mirror into %s: %w", dir, err)
		}
		if err := dst.s.SetReference(r); err != nil {
			return "", err
		}
	}
	return head.Hash().String(), nil
}

// depthOf returns how many generations of ref's history in st hold every
// one of haves (0 when haves is empty: all of it), or -1 when the history
// st holds does not reach them all yet while some of it is still shallow.
func depthOf(st *store, ref plumbing.ReferenceName, haves []plumbing.Hash) (int, error) {
	if len(haves) == 0 {
		return 0, nil
	}
	head, err := st.s.Reference(ref)
	if err != nil {
		return 0, err
	}
	missing := slices.Clone(haves)
	seen := map[plumbing.Hash]bool{}
	level := []plumbing.Hash{head.Hash()}
	gen := 0
	for ; len(level) > 0 && len(missing) > 0; gen++ {
		var next []plumbing.Hash
		for _, h := range level {
			if seen[h] {
				continue
			}
			seen[h] = true
			missing = slices.DeleteFunc(missing, func(x plumbing.Hash) bool { return x == h })
			c, err := object.GetCommit(st.s, h)
			if err != nil {
				continue // beyond the shallow boundary
			}
			next = append(next, c.ParentHashes...)
		}
		level = next
	}
	if len(missing) == 0 {
		return gen, nil
	}
	shallow, err := st.s.Shallow()
	if err != nil {
		return 0, err
	}
	if len(shallow) == 0 {
		return 0, nil // a have is not in the history at all: copy all of it
	}
	return -1, nil
}
