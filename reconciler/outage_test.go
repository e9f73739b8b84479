package reconciler

import (
	"errors"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/status"
)

// A registry down for three passes is one outage in the reports: counted
// while it lasts without changing what a commit would say, then ended with
// its count, and the ended outage stays in the reports.
func TestReportsCarryAnOutage(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if o := h.rep.last().Status.Outage; o != nil {
		t.Fatalf("outage after a good pass: %+v", o)
	}
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("c"), "info")})
	for i := range 3 {
		h.rt.pullErr = errors.Join(errors.New("pull 127.0.0.1:5000/models/m: tmp-"+strings.Repeat("9", i+1)), netErr{})
		if err := h.pass(t); err == nil {
			t.Fatal("pass with the registry down succeeded")
		}
	}
	h.rt.pullErr = nil
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}

	reps := h.rep.reports
	down, back, after := reps[1:4], reps[4], reps[5]
	for i, r := range down {
		o := r.Status.Outage
		if o == nil || o.Class != "retrying" || o.Until != nil || o.Failures != i+1 || !o.Since.Equal(down[0].Status.Outage.Since) {
			t.Errorf("report %d of the outage: outage %+v, want retrying since the first, %d failures, ongoing", i, o, i+1)
		}
	}
	if o := back.Status.Outage; o == nil || o.Until == nil || o.Failures != 3 || o.Class != "retrying" {
		t.Errorf("report after the outage: outage %+v, want it ended after 3 failures", o)
	}
	if o := after.Status.Outage; o == nil || o.Until == nil || !o.Until.Equal(*back.Status.Outage.Until) {
		t.Errorf("next report: outage %+v, want the ended outage kept", o)
	}

	var commits []string
	for i := 1; i < len(reps); i++ {
		if ch := status.Changes(reps[i-1], reps[i]); len(ch) > 0 {
			commits = append(commits, strings.Join(ch, "; "))
		}
	}
	if len(commits) != 2 || !strings.HasPrefix(commits[0], "retrying: ") || !strings.Contains(commits[1], "applied rev2") ||
		!strings.Contains(commits[1], "retrying ended after") || !strings.Contains(commits[1], "(3 failures since") {
		t.Errorf("changes across the outage = %q, want one at its start (retrying: …) and one at its end (applied, retrying ended … 3 failures)", commits)
	}
}
