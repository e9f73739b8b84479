package source

import (
	"context"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitfleet/gitfleet/status"
)

// reportKeep is how many calls of Reports a node's cached report outlives
// without being asked for again: a node under several rollout groups asks
// for a few sets of nodes in turn.
const reportKeep = 8

// keptReport is one node's report as Reports read and checked it: what a
// status ref that has not moved answers again, without a fetch, a decode
// or a signature check.
type keptReport struct {
	commit plumbing.Hash
	rep    Report
	// key is the status key the report was checked against and status the
	// answer, nil when the report is left out (unreadable, another node's).
	key    string
	status *status.NodeStatus
	asked  uint64 // the call that last asked for it
}

// reportCache holds the reports Reports read, by node, bounded to the
// nodes asked for in its last reportKeep calls. Guarded by the writer's mu.
type reportCache struct {
	byNode map[string]*keptReport
	calls  uint64
	// decoded counts the reports read from their commits, checked the
	// signature checks: what a ref that has not moved does not cost.
	decoded, checked int
}

// same says whether node's report is cached for commit h; Reports passes
// it to readReports, which then leaves that report out of its exchange.
func (c *reportCache) same(node string, h plumbing.Hash) bool {
	r, ok := c.byNode[node]
	return ok && r.commit == h
}

// answer is the cached report of node checked against key: the check is
// made again only when the key changed.
func (w *StatusWriter) answer(node, key string) *status.NodeStatus {
	c := &w.reports
	r := c.byNode[node]
	r.asked = c.calls
	if r.rep.Status != nil && r.key != key {
		r.key, r.status = key, w.checked(node, key, r.rep)
	}
	return r.status
}

// remember keeps node's report as read, checked against key, and returns
// the answer for it.
func (w *StatusWriter) remember(node, key string, rep Report) *status.NodeStatus {
	c := &w.reports
	if c.byNode == nil {
		c.byNode = map[string]*keptReport{}
	}
	c.decoded++
	h := plumbing.NewHash(rep.Commit)
	r := &keptReport{commit: h, rep: rep, key: key, asked: c.calls}
	switch {
	case rep.Err != nil:
		w.log.Debug("status report unreadable", logRef, statusRef(node).String(), logRev, short(rep.Commit), logErr, rep.Err)
		r.rep = Report{}
	case rep.Status.Metadata.Name != node:
		w.log.Debug("status report names another node", logRef, statusRef(node).String(), logRev, short(rep.Commit), "names", rep.Status.Metadata.Name)
		r.rep = Report{}
	default:
		r.status = w.checked(node, key, rep)
	}
	c.byNode[node] = r
	return r.status
}

// checked is rep's status with its Trust as CheckReport says for key.
func (w *StatusWriter) checked(node, key string, rep Report) *status.NodeStatus {
	st := *rep.Status
	st.Trust = status.Trust{Reason: "this agent does not verify status reports"}
	if w.cfg.CheckReport != nil {
		w.reports.checked++
		st.Trust = w.cfg.CheckReport(key, rep)
	}
	if !st.Trust.Trusted {
		w.log.Debug("status report untrusted", logRef, statusRef(node).String(), logRev, short(rep.Commit), "reason", st.Trust.Reason)
	}
	return &st
}

// evict drops the reports no call asked for in the last reportKeep.
func (c *reportCache) evict() {
	for n, r := range c.byNode {
		if c.calls-r.asked >= reportKeep {
			delete(c.byNode, n)
		}
	}
}

// KnownReports is Reports without its fetch: one ls-refs of the nodes'
// refs, and the reports held already for the commit their ref points at,
// answered as Reports answers them. moved names the nodes whose ref points
// elsewhere (or whose report is not held yet): their reports cost a fetch.
// A node without a ref is in neither. A rollout gate that stays closed
// whatever the moved reports say is decided from these, without fetching
// them: while an earlier wave applies a revision, its reports move on
// every node's pass, and every held node of the next wave would fetch
// them again on each of its own. Bounded by StatusConfig.Timeout.
func (w *StatusWriter) KnownReports(ctx context.Context, nodes []string, statusKeys map[string]string) (known map[string]*status.NodeStatus, moved []string, err error) {
	ctx, cancel := context.WithTimeout(withOp(ctx, OpReports), w.cfg.Timeout)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	known = map[string]*status.NodeStatus{}
	prefixes := reportPrefixes(nodes)
	if len(prefixes) == 0 {
		return known, nil, nil
	}
	if w.cfg.Location.inProcess {
		for _, n := range nodes {
			if validNode(n) {
				moved = append(moved, n)
			}
		}
		return known, moved, nil
	}
	refs, err := w.refs.listPrefixes(ctx, prefixes...)
	if err != nil {
		return nil, nil, remoteError("fetch", w.cfg.Location, statusRefs, err)
	}
	w.reports.calls++
	for _, n := range nodes {
		if !validNode(n) {
			continue
		}
		h, ok := refs[statusRef(n).String()]
		switch {
		case !ok:
		case w.reports.same(n, h):
			if st := w.answer(n, statusKeys[n]); st != nil {
				known[n] = st
			}
		default:
			moved = append(moved, n)
		}
	}
	return known, moved, nil
}

// reportPrefixes are the ls-refs prefixes of nodes' status refs (names no
// StatusWriter could have written are left out).
func reportPrefixes(nodes []string) []string {
	var prefixes []string
	for _, n := range nodes {
		if validNode(n) {
			prefixes = append(prefixes, statusRef(n).String())
		}
	}
	return prefixes
}
