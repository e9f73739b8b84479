package status

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"
)

// Outage is a run of passes that failed with errors of one class a later
// pass may get past: "retrying" (a server, registry or containerd down, a
// full disk) or "waiting" (a rollout gate or an update lock). The report
// carries the ongoing one, or the last one after it ended, so that a trail
// written while the git server was away still shows it once it is back.
type Outage struct {
	// Class is "retrying" or "waiting".
	Class string `json:"class"`
	// Since is when the first pass of the run failed.
	Since time.Time `json:"since"`
	// Until is when a pass first got past it; nil while it lasts.
	Until *time.Time `json:"until,omitempty"`
	// Failures counts the failed passes.
	Failures int `json:"failures"`
	// Reason is the first error of the run.
	Reason string `json:"reason,omitempty"`
}

// Ongoing reports whether o is an outage that has not ended.
func (o *Outage) Ongoing() bool { return o != nil && o.Until == nil }

// sameOutage reports whether a and b are the same ongoing outage: between
// them only its count and its volatile text can differ, which makes no
// commit. That holds for a waiting outage too: a held node asks its gate
// again on every poll and the gate's message says how far the earlier
// wave is, but committing each new count would make every held node of a
// fleet push on every poll, and every node of the next wave fetch those
// reports again. The hold is committed when it starts and when it ends
// (and the heartbeat carries the latest message); the agent's log has
// each pass's.
func sameOutage(a, b *Outage) bool {
	return a.Ongoing() && b.Ongoing() && (a.Class == "retrying" || a.Class == "waiting") && a.Class == b.Class && a.Since.Equal(b.Since)
}

// endedChange describes an outage that ended between old and new: "retrying
// ended after 2m0s (12 failures since 08:01:02Z)"; "" if none did.
func endedChange(old, new *Outage) string {
	if new == nil || new.Until == nil {
		return ""
	}
	if old != nil && old.Since.Equal(new.Since) && old.Until != nil {
		return "" // reported already
	}
	return fmt.Sprintf("%s ended after %s (%d failures since %s)", new.Class,
		new.Until.Sub(new.Since).Round(time.Second), new.Failures, new.Since.UTC().Format(time.RFC3339))
}

// volatile matches the parts of an error's text that change from one
// attempt to the next without changing what it says: numbers and hex runs
// (counters, offsets, ports of a client, temporary file suffixes) and
// temporary names.
var volatile = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)tmp[-_.]?[a-z0-9]+|[0-9a-f]*[0-9][0-9a-f]*`) })

// stable returns e with the volatile parts of its reason masked.
func stable(e Error) Error {
	e.Reason = volatile().ReplaceAllString(e.Reason, "#")
	return e
}

// sameErrors compares two lists of errors by what they say.
func sameErrors(a, b []Error) bool {
	return slices.EqualFunc(a, b, func(x, y Error) bool { return stable(x) == stable(y) })
}

// quieten makes new's parts that must not make a commit by themselves
// equal to old's: while the same outage lasts, its errors, count and the
// Ready condition's message; otherwise the volatile text of its errors.
func quieten(o, n *NodeStatus) {
	os, ns := &o.Status, &n.Status
	if sameOutage(os.Outage, ns.Outage) {
		ns.Errors, ns.Outage = os.Errors, os.Outage
		for i := range ns.Conditions {
			if c := os.Condition(ns.Conditions[i].Type); c != nil && c.Reason == ns.Conditions[i].Reason {
				ns.Conditions[i].Message = c.Message
			}
		}
		return
	}
	if sameErrors(os.Errors, ns.Errors) {
		ns.Errors = os.Errors
	}
}
