package overview

import (
	"errors"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Behind counts the commits of the branch head that a node's applied
// revision lacks.
type Behind struct {
	// Commits on the branch that the applied revision does not contain.
	Commits int `json:"commits"`
	// AtLeast is true when the applied revision is older than the fetched
	// history (Options.HistoryDepth): the node is at least Commits behind.
	AtLeast bool `json:"atLeast,omitempty"`
}

// String is "3", or "≥100" for a lower bound.
func (b Behind) String() string {
	if b.AtLeast {
		return "≥" + strconv.Itoa(b.Commits)
	}
	return strconv.Itoa(b.Commits)
}

// history is the fetched window of the branch: the head's ancestors down
// to the shallow boundary.
type history struct {
	s        storer.EncodedObjectStorer
	head     plumbing.Hash
	parents  map[plumbing.Hash][]plumbing.Hash // every commit of the window
	complete bool                              // the window reaches the root commits
	cache    map[string]*Behind
}

func newHistory(s storer.EncodedObjectStorer, head plumbing.Hash) (*history, error) {
	h := &history{s: s, head: head, parents: map[plumbing.Hash][]plumbing.Hash{}, complete: true, cache: map[string]*Behind{}}
	queue := []plumbing.Hash{head}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if _, ok := h.parents[c]; ok {
			continue
		}
		commit, err := object.GetCommit(s, c)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			h.complete = false // a parent of a shallow commit
			continue
		}
		if err != nil {
			return nil, err
		}
		h.parents[c] = commit.ParentHashes
		queue = append(queue, commit.ParentHashes...)
	}
	return h, nil
}

// behind returns how far rev is behind the head: nil when rev is empty or
// cannot be placed (the whole history was fetched and rev is not in it:
// the branch was rewritten).
func (h *history) behind(rev string) *Behind {
	if rev == "" {
		return nil
	}
	if b, ok := h.cache[rev]; ok {
		return b
	}
	var b *Behind
	r := plumbing.NewHash(rev)
	switch _, ok := h.parents[r]; {
	case r.String() != rev:
		// not a hash
	case ok:
		b = &Behind{Commits: len(h.parents) - len(h.ancestors(r))}
	case !h.complete:
		b = &Behind{Commits: len(h.parents), AtLeast: true}
	}
	h.cache[rev] = b
	return b
}

// ancestors returns rev and its ancestors inside the window.
func (h *history) ancestors(rev plumbing.Hash) map[plumbing.Hash]bool {
	seen := map[plumbing.Hash]bool{}
	queue := []plumbing.Hash{rev}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		parents, ok := h.parents[c]
		if !ok || seen[c] {
			continue
		}
		seen[c] = true
		queue = append(queue, parents...)
	}
	return seen
}
