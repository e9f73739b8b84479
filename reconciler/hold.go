package reconciler

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// ReportReader reads other nodes' latest status reports, for rollout gates.
// A node that never reported is absent from the map. statusKeys holds the
// status key enrolled for each node in the revision being applied
// (nodes/<node>.yaml spec.statusKey; a node without one is absent): each
// report's Trust says whether its commit is signed by that key, and a gate
// counts only trusted reports. A call for this node's own report alone
// passes nil.
type ReportReader interface {
	Reports(ctx context.Context, nodes []string, statusKeys map[string]string) (map[string]*status.NodeStatus, error)
}

// ReportPeeker is a ReportReader that can also say, from a listing of the
// refs alone, which reports it holds already for their refs' commits and
// which nodes' reports moved since (source.StatusWriter). A rollout gate
// that stays closed whatever the moved reports say is then decided
// without fetching them.
type ReportPeeker interface {
	KnownReports(ctx context.Context, nodes []string, statusKeys map[string]string) (known map[string]*status.NodeStatus, moved []string, err error)
}

// held says a new revision waits: for an earlier rollout wave to be
// healthy on it, or for a workload's update lock. It is neither a refusal
// nor a failure (class fault.Held); the next poll, or after if sooner,
// asks again.
func held(rev string, after time.Duration, format string, args ...any) error {
	return fault.Hold(rev, fmt.Errorf(format, args...), after)
}

// gate is a rollout group that selects this node, with the nodes it
// selects put in its waves and its wave's attesters (once per revision: a
// held node asks its gate on every poll).
type gate struct {
	group  spec.Group
	assign rollout.Assignment
	// attesters are the attesters of this node's wave for the revision
	// (nil: none), attester whether this node is one.
	attesters []string
	attester  bool
	// statusKeys are the members' enrolled status keys, by node.
	statusKeys map[string]string
}

// gates finds the rollout groups that select this node, with their
// members. Waves count a group's nodes by their labels, so the other
// nodes' files are read, only when such a group exists, and a file that
// does not parse leaves that node out of every wave: it is that node's
// revision to refuse, not this one's (spec.Repo.ParseNodes). The node
// files unchanged since the last revision are not parsed again
// (spec.NodeCache).
func (r *Reconciler) gates(fsys fs.FS, repo *spec.Repo, rev string) ([]gate, error) {
	labels := map[string]string{}
	if n, ok := repo.Nodes[r.cfg.Node]; ok {
		for k, v := range n.Metadata.Labels {
			labels[k] = v
		}
	}
	for k, v := range r.cfg.Labels {
		labels[k] = v
	}
	var names []string
	for name, g := range repo.Groups {
		if g.Spec.Rollout != nil && g.Spec.Selector.Matches(labels) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	sort.Strings(names)
	nodes, broken, err := r.nodeFiles.ParseNodes(repo, fsys)
	if err != nil {
		return nil, err
	}
	if broken != nil {
		r.log.Warn("node files left out of rollout waves", keyErr, broken)
	}
	out := make([]gate, 0, len(names))
	for _, name := range names {
		g := repo.Groups[name]
		members := rollout.MembersOf(nodes, g, r.cfg.Node, r.cfg.Labels)
		keys := map[string]string{}
		for n := range members {
			if k := nodes[n].Spec.StatusKey; k != "" {
				keys[n] = k
			}
		}
		a := rollout.AssignFor(g, r.cfg.Node, members)
		attesters := a.Attesters(rev)
		out = append(out, gate{group: g, assign: a, statusKeys: keys, attesters: attesters, attester: slices.Contains(attesters, r.cfg.Node)})
	}
	return out, nil
}

// hold decides whether a new revision must wait before plan changes any
// container: a rollout gate that is closed, or an update lock.
func (r *Reconciler) hold(ctx context.Context, target *revision, plan []Action) error {
	now := r.deps.Now()
	for _, g := range target.gates {
		if err := r.waitWave(ctx, target, g, now); err != nil {
			return err
		}
	}
	for _, a := range plan {
		if a.Kind != Replace || a.Desired == nil || a.Desired.Spec.UpdateLock == nil {
			continue
		}
		if err := r.waitLock(target, a, now); err != nil {
			return err
		}
	}
	return nil
}

// waitWave asks a rollout gate whether this node's wave may apply target.
func (r *Reconciler) waitWave(ctx context.Context, target *revision, g gate, now time.Time) error {
	waves, k := g.assign.Waves, g.assign.Wave
	if k <= 0 {
		return nil
	}
	if r.deps.Reports == nil {
		return held(target.id, 0, "group %s has rollout waves but this agent cannot read other nodes' reports", g.group.Metadata.Name)
	}
	staleAfter := 2 * target.fleet.Status.Heartbeat.Duration
	hold := func(d rollout.Decision) error {
		return held(target.id, d.RetryAfter, "group %s, wave %s: %s", g.group.Metadata.Name, d.WaveName, d.Reason)
	}
	if g.attesters != nil && !g.attester {
		opened, err := r.attestedOpen(ctx, target, g, now, staleAfter)
		if err != nil || opened {
			return err
		}
	}
	// Only the wave the gate waits for is read: a node of the last wave
	// of three does not ask for the canary's reports on every pass.
	// (Nil nodes would ask for every report; with no wave to wait for the
	// gate opens without any.)
	var reports map[string]*status.NodeStatus
	if prev := rollout.Awaited(waves, k); prev >= 0 {
		nodes := waves[prev].Nodes
		read := true
		if p, ok := r.deps.Reports.(ReportPeeker); ok {
			// The reports that moved are fetched only when they could
			// open the gate: while that wave applies, they move on each of
			// its nodes' passes.
			known, moved, err := p.KnownReports(ctx, nodes, g.statusKeys)
			if err != nil {
				return fmt.Errorf("read reports of wave %s: %w", waves[prev].Name, err)
			}
			d, decided, err := r.sampleMoved(ctx, g, target.id, known, moved, now, staleAfter)
			if err != nil {
				return fmt.Errorf("read reports of wave %s: %w", waves[prev].Name, err)
			}
			if decided {
				return hold(d)
			}
			if len(moved) > readSample && g.attesters != nil && !g.attester {
				if err := r.awaitAttesters(target, g, len(nodes), now); err != nil {
					return err
				}
			}
			reports, read = known, len(moved) > 0
		}
		if read {
			var err error
			if reports, err = r.deps.Reports.Reports(ctx, nodes, g.statusKeys); err != nil {
				return fmt.Errorf("read reports of wave %s: %w", waves[prev].Name, err)
			}
			r.noteApplied(target.id, reports)
		}
	}
	d := g.assign.Gate(target.id, reports, now, staleAfter)
	if d.Allowed {
		if d.Awaited != "" {
			r.gateOpen(target, g, GateViaReports, d)
			if g.attester {
				r.attest(status.GateOpened{Group: g.group.Metadata.Name, Wave: d.Awaited, Revision: target.id,
					Healthy: d.Healthy, Of: d.Of, At: now.UTC()})
			}
		}
		return nil
	}
	return hold(d)
}

// waitLock defers a workload's update while its lock file exists, up to
// its maxDeferral.
func (r *Reconciler) waitLock(target *revision, a Action, now time.Time) error {
	lock := *a.Desired.Spec.UpdateLock
	p, ok := r.pendingSince[a.Workload]
	if !ok || p.hash != a.Desired.Hash {
		p = pendingUpdate{hash: a.Desired.Hash, since: now}
		r.pendingSince[a.Workload] = p
	}
	_, err := os.Stat(lock.Path)
	exists := err == nil
	deferred, why := rollout.Deferred(lock, exists, p.since, now)
	if !deferred {
		return nil
	}
	r.acted[a.Workload] = why
	return held(target.id, p.since.Add(lock.MaxDeferral.Duration).Sub(now), "workload %s: %s", a.Workload, why)
}

// pendingUpdate is when a workload's update to a spec was first wanted.
type pendingUpdate struct {
	hash  string
	since time.Time
}
