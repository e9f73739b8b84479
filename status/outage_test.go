package status

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// report is a report of a pass that failed with reason, in an outage of
// class since t0 with n failures (class "" for a pass that succeeded).
func report(class, reason string, t0 time.Time, n int) *NodeStatus {
	st := &NodeStatus{Status: Status{AppliedRevision: "1111111aaaa", Errors: []Error{}}}
	ready := Condition{Type: ConditionReady, Status: ConditionTrue, Reason: ReasonApplied, Message: "2/2 workloads running and healthy"}
	if class != "" {
		st.Status.Errors = []Error{{Reason: reason}}
		st.Status.Outage = &Outage{Class: class, Since: t0, Failures: n, Reason: reason}
		ready.Status, ready.Reason = ConditionFalse, ReasonRetrying
		if class == "waiting" {
			ready.Reason = ReasonWaiting
		}
		ready.Message = strings.Repeat("x", n%3) + "1/2 workloads running and healthy"
	}
	st.Status.Conditions = []Condition{ready}
	return st
}

func TestChangesFollowOutages(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	full := func(tmp string) string {
		return "save state: open /var/lib/gitfleet/.state.json." + tmp + ": no space left on device"
	}
	ok := report("", "", t0, 0)
	first := report("retrying", full("tmp-123456"), t0, 1)
	if got := Changes(ok, first); len(got) == 0 || !strings.HasPrefix(got[0], "retrying: ") {
		t.Errorf("Changes at the start of an outage = %q, want a first entry retrying: …", got)
	}
	// The outage goes on: other temporary names, more failures, even
	// another error of the same class make no commit.
	for i, next := range []*NodeStatus{
		report("retrying", full("tmp-987654"), t0, 2),
		report("retrying", full("4242"), t0, 3),
		report("retrying", "pull x: dial tcp 127.0.0.1:5000: connect: connection refused", t0, 4),
	} {
		if got := Changes(first, next); len(got) != 0 {
			t.Errorf("Changes within the outage (%d) = %q, want none", i, got)
		}
	}
	// It ends: one change says how long and how many failures.
	end := t0.Add(2 * time.Minute)
	after := report("", "", t0, 0)
	after.Status.Outage = &Outage{Class: "retrying", Since: t0, Until: &end, Failures: 12, Reason: full("tmp-123456")}
	got := strings.Join(Changes(first, after), "; ")
	if !strings.Contains(got, "retrying ended after 2m0s (12 failures since 2026-11-30T08:00:00Z)") || !strings.Contains(got, "errors cleared") {
		t.Errorf("Changes at the end of the outage = %q, want errors cleared and the outage's length and count", got)
	}
	// Written once: the next report with the same ended outage is no change.
	again := report("", "", t0, 0)
	again.Status.Outage = after.Status.Outage
	if got := Changes(after, again); len(got) != 0 {
		t.Errorf("Changes after the end was reported = %q, want none", got)
	}
	// Another class is another outage.
	if got := Changes(first, report("waiting", "held by wave 2", t0.Add(time.Minute), 1)); len(got) == 0 || !strings.HasPrefix(got[0], "waiting: ") {
		t.Errorf("Changes from retrying to waiting = %q, want waiting: …", got)
	}
}

// A refused spec's error whose text differs only in a temporary name or a
// number is the same error.
func TestChangesIgnoreVolatileErrorText(t *testing.T) {
	a := &NodeStatus{Status: Status{Errors: []Error{{File: "workloads/a.yaml", Line: 3, Field: "spec.image", Reason: "open /tmp/tmp.Xy12ab: not found (attempt 3)"}}}}
	b := &NodeStatus{Status: Status{Errors: []Error{{File: "workloads/a.yaml", Line: 3, Field: "spec.image", Reason: "open /tmp/tmp.Qz98cd: not found (attempt 4)"}}}}
	if got := Changes(a, b); len(got) != 0 {
		t.Errorf("Changes = %q, want none", got)
	}
	c := &NodeStatus{Status: Status{Errors: []Error{{File: "workloads/a.yaml", Line: 3, Field: "spec.image", Reason: "must be pinned by digest"}}}}
	if got := Changes(a, c); len(got) == 0 {
		t.Error("Changes to another error = none, want one")
	}
}

// A hold goes on: the gate's count and the nodes it names change from
// poll to poll, which makes no commit (a held fleet would push on every
// poll); its start and its end do.
func TestChangesQuietWhileAHoldLasts(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	held := func(n int, msg string) *NodeStatus {
		st := report("waiting", "", t0, n)
		st.Status.Errors = []Error{}
		st.Status.Outage.Reason = "group all, wave rest: waiting for wave early: 0/238 nodes healthy"
		st.Status.Conditions[0].Message = "group all, wave rest: waiting for wave early: " + msg + "; 2/2 workloads running and healthy"
		return st
	}
	ok := report("", "", t0, 0)
	first := held(1, "0/238 nodes healthy on 1a2b3c4 (need 100%); early-001: applied 9f8e7d6")
	if got := Changes(ok, first); len(got) == 0 || !slices.Contains(got, "Ready False (Waiting)") {
		t.Errorf("Changes at the start of a hold = %q, want Ready False (Waiting)", got)
	}
	for i, next := range []*NodeStatus{
		held(2, "37/238 nodes healthy on 1a2b3c4 (need 100%); early-040: applied 9f8e7d6"),
		held(3, "237/238 nodes healthy on 1a2b3c4 (need 100%); early-201: never reported"),
	} {
		if got := Changes(first, next); len(got) != 0 {
			t.Errorf("Changes while the hold lasts (%d) = %q, want none", i, got)
		}
	}
	end := t0.Add(5 * time.Minute)
	after := report("", "", t0, 0)
	after.Status.Outage = &Outage{Class: "waiting", Since: t0, Until: &end, Failures: 10, Reason: first.Status.Outage.Reason}
	if got := strings.Join(Changes(first, after), "; "); !strings.Contains(got, "waiting ended after 5m0s") || !strings.Contains(got, "Ready True (Applied)") {
		t.Errorf("Changes at the end of the hold = %q, want its end and Ready True", got)
	}
	// A new hold (another start) is a change.
	again := held(1, "0/238 nodes healthy on 5e6f7a8 (need 100%)")
	again.Status.Outage.Since = t0.Add(time.Hour)
	if got := Changes(first, again); len(got) == 0 {
		t.Error("Changes to a new hold = none, want one")
	}
}
