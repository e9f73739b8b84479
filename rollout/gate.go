package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// Decision says whether a node may apply a revision now.
type Decision struct {
	Allowed bool
	// Wave is the node's wave (index into Assign's result), -1 when the
	// group has no rollout.
	Wave     int
	WaveName string
	// Reason says why, naming the wave waited for and its nodes that are
	// not there yet, for the status report and the logs:
	//
	//	waiting for wave canary: 1/2 nodes healthy on 1a2b3c4 for 10m (need 90%); press-02: applied 9f8e7d6
	Reason string
	// RetryAfter, when not allowed, is how long until enough nodes will
	// have been healthy for long enough, if their reports stay fresh and
	// unchanged; 0 when only a change in the reports can open the gate.
	RetryAfter time.Duration
	// Awaited names the wave the gate awaits, and Healthy of Of its nodes
	// were healthy on the revision ("" and 0 when the gate awaits none, or
	// opened on attestations).
	Awaited     string
	Healthy, Of int
}

// maxListed bounds the nodes a held Decision's reason names.
const maxListed = 3

// DefaultStaleAfter is Gate's staleAfter when it is given as 0.
const DefaultStaleAfter = 2 * time.Hour

// Gate decides whether node, a node of group g, may apply revision rev
// now. members are the nodes g selects with their labels (see Members);
// reports are the latest status reports by node name (missing or nil for
// a node that never reported).
//
// A node of the first wave, or of a group without rollout, may always.
// A node of wave k > 0 may once at least MinHealthy (rounded up) of the
// nodes of wave k-1 are healthy on rev: their report is fresh (now −
// lastSeen at most staleAfter; DefaultStaleAfter when staleAfter ≤ 0) and
// has appliedRevision rev, Ready True, every workload running and its
// health "healthy" or empty, and now − the Ready condition's
// lastTransitionTime at least HealthyFor; and the report is trusted
// (status.Trust: its commit is signed by the node's enrolled status key),
// whatever it says. An empty wave k-1 passes the question on to wave k-2.
//
// A node commits a report whenever anything in it changes, and a heartbeat
// otherwise, so a fresh report describes the node up to now: it has been
// healthy since the transition, not only until lastSeen. A stale report
// never counts, whatever it says; staleAfter should exceed the heartbeat.
func Gate(g spec.Group, node, rev string, members map[string]map[string]string, reports map[string]*status.NodeStatus, now time.Time, staleAfter time.Duration) Decision {
	return AssignFor(g, node, members).Gate(rev, reports, now, staleAfter)
}

// Assignment is group g's waves as node sees them (Assign, with node
// placed as WaveOf places it) and node's wave. Its Gate and GateUnread
// are the functions of that name without assigning the waves again: a
// held node asks its gate on every poll, and the waves of a group of
// thousands of nodes cost more to assign than the gate to decide.
type Assignment struct {
	Group spec.Group
	Node  string
	Waves []Wave
	// Wave is the index of node's wave in Waves, -1 without a rollout.
	Wave int
}

// AssignFor assigns g's waves for node; see Gate for members.
func AssignFor(g spec.Group, node string, members map[string]map[string]string) Assignment {
	a := Assignment{Group: g, Node: node, Wave: -1}
	if g.Spec.Rollout == nil {
		return a
	}
	a.Waves = Assign(g, withNode(members, node))
	a.Wave = slices.IndexFunc(a.Waves, func(w Wave) bool {
		_, found := slices.BinarySearch(w.Nodes, node)
		return found
	})
	return a
}

// Gate is the package's Gate for the assignment's group and node.
func (a Assignment) Gate(rev string, reports map[string]*status.NodeStatus, now time.Time, staleAfter time.Duration) Decision {
	g, waves, k := a.Group, a.Waves, a.Wave
	r := g.Spec.Rollout
	if r == nil {
		return Decision{Allowed: true, Wave: -1, Reason: fmt.Sprintf("group %s has no rollout", g.Metadata.Name)}
	}
	d := Decision{Wave: k, WaveName: waves[k].Name}
	prev := Awaited(waves, k)
	if prev < 0 {
		d.Allowed = true
		if k == 0 {
			d.Reason = fmt.Sprintf("wave %s is the first of group %s", d.WaveName, g.Metadata.Name)
		} else {
			d.Reason = fmt.Sprintf("the waves of group %s before %s are empty", g.Metadata.Name, d.WaveName)
		}
		return d
	}

	pct, ok := r.Gate.Percent()
	if !ok {
		// spec validation rejects it; hold rather than guess.
		d.Reason = fmt.Sprintf("group %s: invalid gate.minHealthy %q", g.Metadata.Name, r.Gate.MinHealthy)
		return d
	}
	want := r.Gate.HealthyFor.Duration
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	w := waves[prev]
	need := (pct*len(w.Nodes) + 99) / 100
	healthy := 0
	var notYet []string
	var wait time.Duration
	waiting := 0 // nodes that only need more time
	for _, n := range w.Nodes {
		why, since := check(reports[n], rev, want, now, staleAfter)
		if why == "" {
			healthy++
			continue
		}
		notYet = append(notYet, n+": "+why)
		if !since.IsZero() {
			left := max(since.Add(want).Sub(now), 0)
			if waiting == 0 || left < wait {
				wait = left
			}
			waiting++
		}
	}
	d.Awaited, d.Healthy, d.Of = w.Name, healthy, len(w.Nodes)
	summary := fmt.Sprintf("wave %s: %d/%d nodes healthy on %s", w.Name, healthy, len(w.Nodes), short(rev))
	if want > 0 {
		summary += " for " + formatDuration(want)
	}
	summary += fmt.Sprintf(" (need %d%%)", pct)
	if healthy >= need {
		d.Allowed = true
		d.Reason = summary
		return d
	}
	d.Reason = "waiting for " + summary
	if len(notYet) > maxListed {
		notYet = append(notYet[:maxListed], fmt.Sprintf("and %d more", len(notYet)-maxListed))
	}
	d.Reason += "; " + strings.Join(notYet, "; ")
	if healthy+waiting >= need {
		d.RetryAfter = wait
	}
	return d
}

// GateUnread decides as Gate does while the reports of the nodes in unread
// are not read (their refs moved since they were read last; reports holds
// the others). It returns the decision and true when that holds whatever
// the unread reports say: the gate stays closed even if each of them
// showed its node healthy on rev for long enough. The decision's reason
// says those reports were not read. false: read them, then ask Gate.
func GateUnread(g spec.Group, node, rev string, members map[string]map[string]string, reports map[string]*status.NodeStatus, unread []string, now time.Time, staleAfter time.Duration) (Decision, bool) {
	return AssignFor(g, node, members).GateUnread(rev, reports, unread, now, staleAfter)
}

// GateUnread is the package's GateUnread for the assignment's group and
// node.
func (a Assignment) GateUnread(rev string, reports map[string]*status.NodeStatus, unread []string, now time.Time, staleAfter time.Duration) (Decision, bool) {
	g := a.Group
	best := make(map[string]*status.NodeStatus, len(reports)+len(unread))
	marked := make(map[string]*status.NodeStatus, len(reports)+len(unread))
	for n, r := range reports {
		best[n], marked[n] = r, r
	}
	var want time.Duration
	if r := g.Spec.Rollout; r != nil {
		want = r.Gate.HealthyFor.Duration
	}
	for _, n := range unread {
		best[n] = healthyOn(rev, now.Add(-want), now)
		marked[n] = unreadReport
	}
	if a.Gate(rev, best, now, staleAfter).Allowed {
		return Decision{}, false
	}
	return a.Gate(rev, marked, now, staleAfter), true
}

// unreadReport stands for a report GateUnread did not read.
var unreadReport = &status.NodeStatus{}

// healthyOn is a trusted report of a node healthy on rev since since.
func healthyOn(rev string, since, now time.Time) *status.NodeStatus {
	return &status.NodeStatus{Trust: status.Trust{Trusted: true}, Status: status.Status{
		AppliedRevision: rev, ObservedRevision: rev, LastSeen: now,
		Conditions: []status.Condition{{Type: status.ConditionReady, Status: status.ConditionTrue, LastTransitionTime: since}},
	}}
}

// Awaited is the index of the wave that wave k waits for: the nearest
// earlier wave with nodes, -1 when there is none (k is first, or every
// wave before it is empty). Gate reads the reports of its nodes alone.
func Awaited(waves []Wave, k int) int {
	prev := k - 1
	for prev >= 0 && len(waves[prev].Nodes) == 0 {
		prev--
	}
	return prev
}

// check says why report does not show a node healthy on rev for at least
// want as of now ("" when it does). since is set when the node is healthy
// on rev but not yet for long enough: the time it has been so since.
func check(report *status.NodeStatus, rev string, want time.Duration, now time.Time, staleAfter time.Duration) (why string, since time.Time) {
	switch report {
	case nil:
		return "never reported", time.Time{}
	case unreadReport:
		return "new report not read", time.Time{}
	}
	if !report.Trust.Trusted {
		why := "untrusted report"
		if report.Trust.Reason != "" {
			why += " (" + report.Trust.Reason + ")"
		}
		return why, time.Time{}
	}
	st := &report.Status
	if age := now.Sub(st.LastSeen); age > staleAfter {
		return fmt.Sprintf("last reported %s ago (stale after %s)", formatDuration(age), formatDuration(staleAfter)), time.Time{}
	}
	if st.AppliedRevision != rev {
		if st.AppliedRevision == "" {
			return "has applied nothing", time.Time{}
		}
		why := "applied " + short(st.AppliedRevision)
		if st.ObservedRevision == rev && len(st.Errors) > 0 {
			why += ", refused " + short(rev) + ": " + status.FormatError(st.Errors[0])
		}
		return why, time.Time{}
	}
	ready := st.Condition(status.ConditionReady)
	switch {
	case ready == nil:
		return "no Ready condition", time.Time{}
	case ready.Status != status.ConditionTrue:
		why := "Ready " + ready.Status
		if ready.Reason != "" {
			why += " (" + ready.Reason + ")"
		}
		return why, time.Time{}
	}
	for _, w := range st.Workloads {
		if w.State != status.StateRunning {
			return w.Name + " " + w.State, time.Time{}
		}
		if w.Health != "" && w.Health != "healthy" {
			return w.Name + " " + w.Health, time.Time{}
		}
	}
	if want <= 0 {
		return "", time.Time{}
	}
	if ready.LastTransitionTime.IsZero() {
		return "its report lacks Ready's lastTransitionTime", time.Time{}
	}
	if got := now.Sub(ready.LastTransitionTime); got < want {
		return "healthy for " + formatDuration(max(got, 0)), ready.LastTransitionTime
	}
	return "", time.Time{}
}

// short abbreviates a commit hash as git does.
func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// formatDuration writes d without trailing zero units: 10m, 1h30m, 45s.
func formatDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
