package reconciler

import (
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/status"
)

// outageReasonMax bounds the first error an outage keeps.
const outageReasonMax = 300

// outage tracks the passes that fail with errors a later pass may get past
// (transient: "retrying"; held: "waiting") for the report: it starts at
// the first such pass, counts the next ones of the same class, and ends at
// the first pass that gets past it (succeeds, or fails for another class).
// The ended outage stays in the reports until the next one starts, so the
// first report that reaches the status repo after the git server was away
// still says it. passErr is the pass's error, now its time.
func (r *Reconciler) trackOutage(passErr error, now time.Time) *status.Outage {
	class := ""
	if passErr != nil && !onlyRollbacks(passErr) {
		if c := fault.ClassOf(passErr); c != fault.Refused {
			class = c.String()
		}
	}
	o := r.outage
	switch {
	case class == "" && o.Ongoing():
		end := now
		o.Until = &end
	case class == "":
	case o.Ongoing() && o.Class == class:
		o.Failures++
	default:
		reason := []rune(passErr.Error())
		if len(reason) > outageReasonMax {
			reason = append(reason[:outageReasonMax-1], '…')
		}
		o = &status.Outage{Class: class, Since: now, Failures: 1, Reason: string(reason)}
	}
	r.outage = o
	if o == nil {
		return nil
	}
	c := *o
	return &c
}

// resumeOutage takes the outage of the node's own last report, so that an
// agent restarted during an outage goes on counting it.
func (r *Reconciler) resumeOutage(last *status.NodeStatus) {
	if r.outage == nil && last != nil && last.Status.Outage != nil {
		o := *last.Status.Outage
		r.outage = &o
	}
}

// outageMoved reports whether the outage now differs from before in a way
// the state file keeps: it started or ended, or a retrying one failed once
// more. A waiting outage's count is not written at every poll: holds may
// last days, and an edge node's flash should not pay for them.
func outageMoved(before, now *status.Outage) bool {
	switch {
	case now == nil:
		return false
	case before == nil:
		return true
	case before.Class != now.Class || !before.Since.Equal(now.Since) || (before.Until == nil) != (now.Until == nil):
		return true
	}
	return before.Failures != now.Failures && now.Class == fault.Transient.String()
}
