package reconciler

import (
	"errors"
	"path/filepath"
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

// An agent restarted during an outage of the git server (fleetd --once at
// each poll) goes on counting it from its state file, and the first
// report once the server is back says the outage, though none of the
// reports made during it could be pushed.
func TestOutageSurvivesAgentRestarts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	cfg := insecure()
	cfg.StateFile, cfg.Node = file, "press-01"
	h := newHarness(t, cfg)
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	restart := func() {
		t.Helper()
		r, err := New(cfg, h.r.deps)
		if err != nil {
			t.Fatal(err)
		}
		h.r = r
	}
	h.src.headErr = netErr{}
	for range 2 {
		restart()
		if err := h.pass(t); err == nil {
			t.Fatal("pass with the git server down succeeded")
		}
	}
	h.src.headErr = nil
	restart()
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	back := h.rep.last()
	if o := back.Status.Outage; o == nil || o.Class != "retrying" || o.Until == nil || o.Failures != 2 {
		t.Fatalf("first report after the git server is back: outage %+v, want retrying, ended after 2 failures", o)
	}
	if ch := status.Changes(h.rep.reports[0], back); !strings.Contains(strings.Join(ch, "; "), "retrying ended after") {
		t.Errorf("changes from the last report pushed to the first after the outage = %q, want the outage's end", ch)
	}
}
