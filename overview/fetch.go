package overview

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/gitfleet/gitfleet/source"
)

// Where status refs live on the remote and in the in-memory store.
const (
	statusRefPrefix   = "refs/heads/status/"
	statusLocalPrefix = "refs/remotes/status/"
	branchLocalPrefix = "refs/remotes/origin/"
)

// ErrBranchNotFound: the fleet repo has no such branch.
var ErrBranchNotFound = errors.New("branch not found")

// fetchBranch fetches the last depth commits of branch into a new
// in-memory store and returns it with the branch head.
func fetchBranch(ctx context.Context, url string, a source.Auth, branch string, depth int) (*memory.Storage, plumbing.Hash, error) {
	s := memory.NewStorage()
	remote := plumbing.NewBranchReferenceName(branch)
	local := plumbing.ReferenceName(branchLocalPrefix + branch)
	spec := config.RefSpec("+" + remote.String() + ":" + local.String())
	err := fetch(ctx, s, url, a, spec, depth)
	var noMatch git.NoMatchingRefSpecError
	switch {
	case errors.As(err, &noMatch), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return nil, plumbing.ZeroHash, fmt.Errorf("fetch %s %s: %w", source.Redact(url), remote, ErrBranchNotFound)
	case err != nil:
		return nil, plumbing.ZeroHash, scrub(fmt.Errorf("fetch %s %s: %w", url, remote, err), url, a)
	}
	ref, err := s.Reference(local)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("fetch %s %s: %w", source.Redact(url), remote, ErrBranchNotFound)
	}
	return s, ref.Hash(), nil
}

// fetchStatus fetches every refs/heads/status/* at depth 1 in one fetch
// into a new in-memory store and returns it with each node's commit. A
// repository without status refs (or an empty one) yields none.
func fetchStatus(ctx context.Context, url string, a source.Auth) (*memory.Storage, map[string]plumbing.Hash, error) {
	s := memory.NewStorage()
	spec := config.RefSpec("+" + statusRefPrefix + "*:" + statusLocalPrefix + "*")
	err := fetch(ctx, s, url, a, spec, 1)
	var noMatch git.NoMatchingRefSpecError
	switch {
	case errors.As(err, &noMatch), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return s, map[string]plumbing.Hash{}, nil
	case err != nil:
		return nil, nil, scrub(fmt.Errorf("fetch %s %s*: %w", url, statusRefPrefix, err), url, a)
	}
	iter, err := s.IterReferences()
	if err != nil {
		return nil, nil, err
	}
	refs := map[string]plumbing.Hash{}
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if node, ok := strings.CutPrefix(r.Name().String(), statusLocalPrefix); ok && r.Type() == plumbing.HashReference {
			refs[node] = r.Hash()
		}
		return nil
	})
	return s, refs, err
}

// sshConnectTimeout bounds an ssh connection's setup, which go-git does
// without a context.
const sshConnectTimeout = 30 * time.Second

func fetch(ctx context.Context, s *memory.Storage, url string, a source.Auth, spec config.RefSpec, depth int) error {
	auth, err := source.AuthMethod(url, a, sshConnectTimeout)
	if err != nil {
		return err
	}
	rem := git.NewRemote(s, &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	err = rem.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{spec},
		Depth:    depth,
		Auth:     auth,
		Tags:     git.NoTags,
		Force:    true,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}
