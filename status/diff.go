package status

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Changes lists, for a commit message, what differs between two reports,
// ignoring LastSeen: "applied 1a2b3c4", "refused 9f8e7d6: workloads/x.yaml:7:
// spec.image: …", "retrying: …", "detector running", "Ready False
// (Retrying)", "retrying ended after 2m0s (12 failures since …)". With old
// nil (the first report) it describes new. The list is deterministic and
// empty exactly when the reports are equal apart from LastSeen and what
// changes without changing meaning: the count and errors of an outage that
// goes on, numbers and temporary names in an error's text (quieten).
func Changes(old, new *NodeStatus) []string {
	if new == nil {
		return nil
	}
	o := NodeStatus{}
	if old != nil {
		o = normalize(old)
	}
	n := normalize(new)
	quieten(&o, &n)
	o.Status.Workloads, n.Status.Workloads = withoutLogTails(o.Status.Workloads), withoutLogTails(n.Status.Workloads)
	var out []string
	os, ns := o.Status, n.Status

	if ns.AppliedRevision != os.AppliedRevision && ns.AppliedRevision != "" {
		out = append(out, "applied "+short(ns.AppliedRevision))
	}
	errorsChanged := !sameErrors(os.Errors, ns.Errors)
	switch {
	case errorsChanged && len(ns.Errors) > 0:
		msg := FormatError(ns.Errors[0])
		if len(ns.Errors) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(ns.Errors)-1)
		}
		out = append(out, errorChange(ns, msg))
	case errorsChanged && old != nil:
		out = append(out, "errors cleared")
	case ns.ObservedRevision != os.ObservedRevision && ns.ObservedRevision != ns.AppliedRevision && ns.ObservedRevision != "":
		out = append(out, "observed "+short(ns.ObservedRevision))
	}
	if ns.VerificationDisabled != os.VerificationDisabled {
		if ns.VerificationDisabled {
			out = append(out, "verification disabled")
		} else if old != nil {
			out = append(out, "verification enabled")
		}
	}
	if p := ns.Poll; p != nil && (os.Poll == nil || *os.Poll != *p) && (old != nil || p.Via != PollViaGit || p.Message != "") {
		msg := "polls via " + p.Via
		if p.Protocol != "" {
			msg += " (protocol " + p.Protocol + ")"
		}
		if p.Message != "" {
			msg += ": " + p.Message
		}
		out = append(out, msg)
	}
	if s := endedChange(os.Outage, ns.Outage); s != "" {
		out = append(out, s)
	}
	for _, g := range ns.Gates {
		if !slices.ContainsFunc(os.Gates, func(o GateOpened) bool {
			return o.Group == g.Group && o.Wave == g.Wave && o.Revision == g.Revision
		}) {
			out = append(out, fmt.Sprintf("gate of group %s opened for %s: wave %s %d/%d healthy", g.Group, short(g.Revision), g.Wave, g.Healthy, g.Of))
		}
	}
	out = append(out, workloadChanges(os.Workloads, ns.Workloads)...)
	out = append(out, conditionChanges(os.Conditions, ns.Conditions)...)

	if len(out) == 0 && !equal(o, n) {
		out = append(out, "status updated")
	}
	return out
}

// errorChange says what a report's errors mean in the words of the Ready
// condition's reason: "refused 9f8e7d6: …", "retrying: …", "waiting: …",
// or the rollback itself. A report whose condition does not say (an older
// agent's) reads as refused when it observed a revision it did not apply.
func errorChange(st Status, msg string) string {
	refused := "refused: " + msg
	if st.ObservedRevision != "" && st.ObservedRevision != st.AppliedRevision {
		refused = "refused " + short(st.ObservedRevision) + ": " + msg
	}
	reason := ""
	if c := st.Condition(ConditionReady); c != nil {
		reason = c.Reason
	}
	switch reason {
	case ReasonRefused:
		return refused
	case ReasonRetrying, "Failing":
		return "retrying: " + msg
	case ReasonWaiting:
		return "waiting: " + msg
	case ReasonRolledBack:
		return msg
	}
	if st.ObservedRevision != "" && st.ObservedRevision != st.AppliedRevision {
		return refused
	}
	return "failed: " + msg
}

func workloadChanges(old, new []Workload) []string {
	byName := make(map[string]Workload, len(old))
	for _, w := range old {
		byName[w.Name] = w
	}
	sorted := slices.Clone(new)
	slices.SortStableFunc(sorted, func(a, b Workload) int { return strings.Compare(a.Name, b.Name) })
	var out []string
	seen := make(map[string]bool, len(new))
	for _, w := range sorted {
		seen[w.Name] = true
		o, ok := byName[w.Name]
		if !ok {
			out = append(out, strings.TrimSpace(w.Name+" "+w.State+" "+w.Health))
			continue
		}
		if o.Image != w.Image {
			out = append(out, w.Name+" image "+shortImage(w.Image))
		}
		if o.State != w.State {
			s := w.Name + " " + w.State
			if w.ExitCode != nil && w.State != StateRunning {
				s += " (exit " + strconv.Itoa(*w.ExitCode) + ")"
			}
			out = append(out, s)
		}
		if o.Health != w.Health && w.Health != "" {
			out = append(out, w.Name+" "+w.Health)
		}
		if w.Restarts > o.Restarts {
			out = append(out, fmt.Sprintf("%s restarted (%d)", w.Name, w.Restarts))
		}
		if o.Message != w.Message && w.Message != "" {
			out = append(out, w.Name+": "+w.Message)
		}
	}
	var removed []string
	for _, w := range old {
		if !seen[w.Name] {
			removed = append(removed, w.Name+" removed")
		}
	}
	slices.Sort(removed)
	return append(out, removed...)
}

func conditionChanges(old, new []Condition) []string {
	byType := make(map[string]Condition, len(old))
	for _, c := range old {
		byType[c.Type] = c
	}
	sorted := slices.Clone(new)
	slices.SortStableFunc(sorted, func(a, b Condition) int { return strings.Compare(a.Type, b.Type) })
	var out []string
	for _, c := range sorted {
		if o, ok := byType[c.Type]; ok && o.Status == c.Status && o.Reason == c.Reason {
			continue
		}
		s := c.Type + " " + c.Status
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
		out = append(out, s)
	}
	return out
}

// FormatError writes one report error the way spec errors read:
// "workloads/x.yaml:7: spec.image: reason", or "<ref>: reason".
func FormatError(e Error) string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	if e.Ref != "" {
		b.WriteString(e.Ref + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// equal compares two normalized reports, ignoring LastSeen.
func equal(a, b NodeStatus) bool {
	a.Status.LastSeen, b.Status.LastSeen = time.Time{}, time.Time{}
	ya, err1 := Marshal(&a)
	yb, err2 := Marshal(&b)
	return err1 == nil && err2 == nil && bytes.Equal(ya, yb)
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// shortImage keeps a digest reference readable: repo@sha256:1234567890ab.
func shortImage(ref string) string {
	if i := strings.Index(ref, "@sha256:"); i >= 0 && len(ref) > i+8+12 {
		return ref[:i+8+12]
	}
	return ref
}

// withoutLogTails is ws without their log tails: a log that grows is no
// change of the node's state.
func withoutLogTails(ws []Workload) []Workload {
	out := slices.Clone(ws)
	for i := range out {
		out[i].LogTail = ""
	}
	return out
}
