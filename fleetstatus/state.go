package fleetstatus

import (
	"fmt"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/status"
)

// State sums up one node. The rules, first match wins:
//
//   - Failing, whatever its age, when the node's report does not parse
//     (the parse error is shown).
//   - Untrusted, whatever it says: the report's commit is not signed by
//     the status key the head enrols for the node (nodes/<node>.yaml
//     spec.statusKey): unsigned, signed by another key, or no key
//     enrolled. Someone other than the node may have written it.
//   - Offline: the node never reported (it has a nodes/ file but no status
//     ref), or its last report is older than OfflineAfter (24h).
//   - Stale: its last report is older than StaleAfter (2 heartbeats). What
//     that old report said is kept in the reason.
//   - Failing: the report names another node; or its Ready condition is
//     False with reason Refused or Retrying (Failing from older agents);
//     or a workload is not running (stopped, failed, missing, created;
//     pending, which fleetd writes while it replaces a container, does not
//     count) or reports health "unhealthy"; or the report lists errors.
//   - Updating: the applied revision is not the branch head (or nothing
//     was applied yet), or Ready is False for another reason (Progressing:
//     the head is applied and workloads are still starting), or a
//     workload is pending.
//   - UpToDate: the head is applied and every workload runs.
type State string

// The states, in the order the outputs list them.
const (
	UpToDate  State = "up-to-date"
	Updating  State = "updating"
	Failing   State = "failing"
	Untrusted State = "untrusted"
	Stale     State = "stale"
	Offline   State = "offline"
)

// States returns every state in display order.
func States() []State { return []State{UpToDate, Updating, Failing, Untrusted, Stale, Offline} }

// report is what was read from one status ref.
type report struct {
	st       *status.NodeStatus // nil if the report did not parse
	err      error              // why it did not parse
	commit   string             // the status ref's commit
	lastSeen time.Time          // the report's lastSeen, else the commit's time
	// untrusted says why the report's signature is not trusted ("" when it
	// is); signedBy is the fingerprint of the key of a trusted one.
	untrusted, signedBy string
}

// classify sets n's State and Reason from its report (nil: never
// reported), the branch head and the thresholds.
func classify(n *Node, rep *report, head string, now time.Time, o Options) {
	if rep == nil {
		n.State, n.Reason = Offline, "never reported"
		return
	}
	if rep.err != nil {
		n.State, n.Reason = Failing, "malformed report"
		return
	}
	if rep.untrusted != "" {
		n.State, n.Reason = Untrusted, "untrusted report: "+rep.untrusted
		return
	}
	age := now.Sub(rep.lastSeen)
	why := failing(n, rep.st)
	switch {
	case age > o.OfflineAfter:
		n.State, n.Reason = Offline, fmt.Sprintf("no report for %s (offline after %s)", Age(age), Age(o.OfflineAfter))
	case age > o.StaleAfter:
		n.State, n.Reason = Stale, fmt.Sprintf("no report for %s (heartbeat %s)", Age(age), Age(o.Heartbeat))
	case why != "":
		n.State, n.Reason = Failing, why
	}
	if n.State != "" {
		if why != "" && n.State != Failing {
			n.Reason += "; last report: " + why
		}
		return
	}
	st := rep.st.Status
	switch {
	case st.AppliedRevision == "":
		n.State, n.Reason = Updating, "nothing applied yet"
	case st.AppliedRevision != head:
		n.State, n.Reason = Updating, "applied "+short(st.AppliedRevision)+", head "+short(head)
		if n.Behind != nil {
			n.Reason += " (" + n.Behind.String() + " behind)"
		}
	case n.Ready != nil && n.Ready.Status != "True":
		n.State, n.Reason = Updating, conditionText(*n.Ready)
	case pending(st.Workloads) > 0:
		n.State, n.Reason = Updating, fmt.Sprintf("%d workloads pending", pending(st.Workloads))
	default:
		n.State = UpToDate
		if n.Ready != nil {
			n.Reason = n.Ready.Message
		}
	}
}

// failing returns why a parsed report counts as failing, or "".
func failing(n *Node, st *status.NodeStatus) string {
	if st.Metadata.Name != n.Name {
		return fmt.Sprintf("report names node %q", st.Metadata.Name)
	}
	if c := n.Ready; c != nil && c.Status == status.ConditionFalse && (c.Reason == status.ReasonRefused || c.Reason == status.ReasonRetrying || c.Reason == "Failing") {
		return conditionText(*c)
	}
	var bad []string
	for _, w := range st.Status.Workloads {
		if workloadFailing(w) {
			s := w.Name + " " + w.State
			if w.State == status.StateRunning {
				s = w.Name + " " + w.Health
			}
			bad = append(bad, s)
		}
	}
	if len(bad) > 0 {
		return fmt.Sprintf("%d/%d workloads failing: %s", len(bad), len(st.Status.Workloads), strings.Join(bad, ", "))
	}
	if len(st.Status.Errors) > 0 {
		if len(st.Status.Errors) == 1 {
			return "1 error"
		}
		return fmt.Sprintf("%d errors", len(st.Status.Errors))
	}
	return ""
}

// workloadHealthy: running, and not reported unhealthy or still starting.
func workloadHealthy(w status.Workload) bool {
	return w.State == status.StateRunning && (w.Health == "" || w.Health == "healthy")
}

// workloadFailing: not running (pending excepted) or running unhealthy.
func workloadFailing(w status.Workload) bool {
	switch w.State {
	case status.StateRunning:
		return w.Health == "unhealthy"
	case status.StatePending:
		return false
	}
	return true
}

func pending(ws []status.Workload) int {
	n := 0
	for _, w := range ws {
		if w.State == status.StatePending {
			n++
		}
	}
	return n
}

func conditionText(c status.Condition) string {
	s := c.Type + " " + c.Status
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	if c.Message != "" {
		s += ": " + c.Message
	}
	return s
}

// Age writes a duration the way the outputs show ages: "45s", "12m",
// "3h", "3h20m" below a day, "2d5h" above.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}
