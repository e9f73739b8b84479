package trust

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// IsAncestor reports whether ancestor is descendant or one of its
// ancestors, walking every parent (merges included) from descendant.
//
// In a shallow repository the walk stops at the shallow boundary (commits
// listed in .git/shallow, whose parents were not fetched) and at parents
// missing from the store. If ancestor was not found before the walk ran out
// of history, IsAncestor cannot tell and returns false with an error
// matching ErrHistoryMissing: fetch more history (deepen) and ask again. A
// depth-1 fetch therefore proves ancestry only when ancestor == descendant.
// When the walk covers all of descendant's history, false means "not an
// ancestor" (a rollback or an unrelated history).
func IsAncestor(repo *git.Repository, ancestor, descendant plumbing.Hash) (bool, error) {
	return isAncestor(context.Background(), repo, ancestor, descendant)
}

func isAncestor(ctx context.Context, repo *git.Repository, ancestor, descendant plumbing.Hash) (bool, error) {
	if ancestor == descendant {
		return true, nil
	}
	w, err := newWalker(repo)
	if err != nil {
		return false, err
	}
	found := false
	err = w.walk(ctx, descendant, func(c *object.Commit) bool {
		if found || c.Hash == ancestor {
			found = true
			return false
		}
		return true
	})
	if found {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("is %s an ancestor of %s: %w", short(ancestor), short(descendant), err)
	}
	return false, nil
}

// walker visits commits from a start commit towards the roots.
type walker struct {
	repo    *git.Repository
	shallow map[plumbing.Hash]bool
}

func newWalker(repo *git.Repository) (*walker, error) {
	sh, err := repo.Storer.Shallow()
	if err != nil {
		return nil, fmt.Errorf("read shallow list: %w", err)
	}
	w := &walker{repo: repo, shallow: map[plumbing.Hash]bool{}}
	for _, h := range sh {
		w.shallow[h] = true
	}
	return w, nil
}

// commit loads h; a commit absent from the store is ErrHistoryMissing.
func (w *walker) commit(h plumbing.Hash) (*object.Commit, error) {
	c, err := object.GetCommit(w.repo.Storer, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("commit %s: %w", h, ErrHistoryMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

// parents returns c's parents; past the shallow boundary, or when a parent
// is absent, it returns an error matching ErrHistoryMissing.
func (w *walker) parents(c *object.Commit) ([]*object.Commit, error) {
	if len(c.ParentHashes) > 0 && w.shallow[c.Hash] {
		return nil, fmt.Errorf("parents of %s: beyond the shallow boundary: %w", short(c.Hash), ErrHistoryMissing)
	}
	ps := make([]*object.Commit, 0, len(c.ParentHashes))
	for _, h := range c.ParentHashes {
		p, err := w.commit(h)
		if err != nil {
			return nil, fmt.Errorf("parent of %s: %w", short(c.Hash), err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// walk visits start and its ancestors breadth-first, each once, while
// visit returns true for the commit whose parents would come next (false
// prunes that commit's parents, not the walk). It returns the first
// ErrHistoryMissing met (after visiting everything else reachable) or any
// other error at once.
func (w *walker) walk(ctx context.Context, start plumbing.Hash, visit func(*object.Commit) bool) error {
	c, err := w.commit(start)
	if err != nil {
		return err
	}
	seen := map[plumbing.Hash]bool{start: true}
	queue := []*object.Commit{c}
	var missing error
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := queue[0]
		queue = queue[1:]
		if !visit(c) {
			continue
		}
		ps, err := w.parents(c)
		if errors.Is(err, ErrHistoryMissing) {
			if missing == nil {
				missing = err
			}
			continue
		}
		if err != nil {
			return err
		}
		for _, p := range ps {
			if !seen[p.Hash] {
				seen[p.Hash] = true
				queue = append(queue, p)
			}
		}
	}
	return missing
}

// between returns the commits reachable from rev but not from base (git
// rev-list base..rev), base excluded, oldest first (reverse breadth-first
// order).
func between(ctx context.Context, w *walker, base, rev plumbing.Hash) ([]*object.Commit, error) {
	// Everything reachable from base is already applied. In a shallow
	// repository this set stops at the boundary; the walk from rev then
	// reports ErrHistoryMissing if it needs to go further.
	applied := map[plumbing.Hash]bool{}
	err := w.walk(ctx, base, func(c *object.Commit) bool {
		applied[c.Hash] = true
		return true
	})
	if err != nil && !errors.Is(err, ErrHistoryMissing) {
		return nil, err
	}
	var out []*object.Commit
	err = w.walk(ctx, rev, func(c *object.Commit) bool {
		if applied[c.Hash] {
			return false
		}
		out = append(out, c)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("commits between %s and %s: %w", short(base), short(rev), err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func short(h plumbing.Hash) string { return h.String()[:12] }
