package reconciler

import (
	"cmp"
	"context"
	"hash/fnv"
	"slices"
	"time"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/status"
)

// readSample is how many of the awaited wave's moved reports a held node
// reads before it reads them all.
const readSample = 8

// sampleMoved decides a wave gate while some of the awaited wave's reports
// moved (their refs point at commits not read yet): without reading them
// when the gate stays closed whatever they say, else after reading a few
// of them (readSample) when the gate stays closed whatever the others
// say. The few are those whose report was not on rev when last read (the
// likeliest to be behind still), in an order of this node's own. known
// gains the reports read. decided false: read every report, then ask
// rollout.Gate.
//
// Opening a gate takes reading every report it counts; keeping it closed
// takes one that is behind. When a whole wave's reports move at once, as
// they do when its nodes all commit that they hold for a new revision,
// each held node of the next wave thus reads readSample of them, not the
// whole wave.
func (r *Reconciler) sampleMoved(ctx context.Context, g gate, rev string, known map[string]*status.NodeStatus, moved []string, now time.Time, staleAfter time.Duration) (rollout.Decision, bool, error) {
	if len(moved) == 0 {
		return rollout.Decision{}, false, nil
	}
	if d, ok := g.assign.GateUnread(rev, known, moved, now, staleAfter); ok || len(moved) <= readSample {
		return d, ok, nil
	}
	order := make([]keyed, len(moved))
	for i, n := range moved {
		order[i] = keyed{r.seenOnRev == rev && r.seenOn[n], r.sampleKey(n), n}
	}
	slices.SortFunc(order, func(a, b keyed) int {
		if a.on != b.on {
			return cmp.Compare(b2i(a.on), b2i(b.on))
		}
		return cmp.Compare(a.key, b.key)
	})
	names := make([]string, len(order))
	for i, o := range order {
		names[i] = o.node
	}
	sample, rest := names[:readSample], names[readSample:]
	got, err := r.deps.Reports.Reports(ctx, sample, g.statusKeys)
	if err != nil {
		return rollout.Decision{}, false, err
	}
	for _, n := range sample {
		if st, ok := got[n]; ok {
			known[n] = st
		}
	}
	r.noteApplied(rev, got)
	d, ok := g.assign.GateUnread(rev, known, rest, now, staleAfter)
	return d, ok, nil
}

// sampleKey orders the nodes whose reports sampleMoved reads first: a
// hash of this node's name and theirs, so that the held nodes of a wave
// do not all read the same few.
func (r *Reconciler) sampleKey(node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(r.cfg.Node))
	h.Write([]byte{0})
	h.Write([]byte(node))
	return h.Sum64()
}

// keyed is a node with its sampleKey, and whether its report was on the
// revision when last read.
type keyed struct {
	on   bool
	key  uint64
	node string
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// noteApplied notes which reports read show rev applied.
func (r *Reconciler) noteApplied(rev string, reports map[string]*status.NodeStatus) {
	if r.seenOnRev != rev || r.seenOn == nil {
		r.seenOn, r.seenOnRev = map[string]bool{}, rev
	}
	for n, st := range reports {
		if st.Status.AppliedRevision == rev {
			r.seenOn[n] = true
		} else {
			delete(r.seenOn, n)
		}
	}
}
