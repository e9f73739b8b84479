package fleetstatus

import (
	"errors"
	"strconv"

	"github.com/gitfleet/gitfleet/source"
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

// history is the window of the branch the overview looks at: the head's
// ancestors less than depth commits away (what a fetch of that depth
// brings).
type history struct {
	head     string
	parents  map[string][]string // every commit of the window
	complete bool                // the window reaches the root commits
	cache    map[string]*Behind
}

// parentReader is source.Repo's Parents.
type parentReader interface {
	Parents(hash string) ([]string, error)
}

func newHistory(repo parentReader, head string, depth int) (*history, error) {
	h := &history{head: head, parents: map[string][]string{}, complete: true, cache: map[string]*Behind{}}
	level := []string{head}
	for d := 0; len(level) > 0; d++ {
		if d == depth {
			h.complete = false
			break
		}
		var next []string
		for _, c := range level {
			if _, ok := h.parents[c]; ok {
				continue
			}
			parents, err := repo.Parents(c)
			if errors.Is(err, source.ErrRevisionNotFound) {
				h.complete = false // a parent of a shallow commit
				continue
			}
			if err != nil {
				return nil, err
			}
			h.parents[c] = parents
			next = append(next, parents...)
		}
		level = next
	}
	return h, nil
}

// behind returns how far rev is behind the head: nil when rev is empty or
// cannot be placed (the whole history was read and rev is not in it: the
// branch was rewritten).
func (h *history) behind(rev string) *Behind {
	if rev == "" {
		return nil
	}
	if b, ok := h.cache[rev]; ok {
		return b
	}
	var b *Behind
	switch _, ok := h.parents[rev]; {
	case ok:
		b = &Behind{Commits: len(h.parents) - len(h.ancestors(rev))}
	case !h.complete && isHash(rev):
		b = &Behind{Commits: len(h.parents), AtLeast: true}
	}
	h.cache[rev] = b
	return b
}

// ancestors returns rev and its ancestors inside the window.
func (h *history) ancestors(rev string) map[string]bool {
	seen := map[string]bool{}
	queue := []string{rev}
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

// isHash reports whether s is a full commit hash in lower case.
func isHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
