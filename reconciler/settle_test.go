package reconciler

import (
	"errors"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// A containerd that dies and comes back while a replace runs can leave the
// new container stopped although every call of the pass returned: that
// pass did not converge. It fails as transient (so `fleetd --once` exits
// 1), the new spec does not count as failed, and the next pass starts the
// container and applies the revision, with a supervisor too.
func TestPassThatLeavesAContainerStoppedIsTransient(t *testing.T) {
	for _, supervised := range []bool{false, true} {
		h := newHarness(t, insecure())
		if supervised {
			h.r.deps.Supervisor = &fakeSupervisor{}
		}
		h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
		if err := h.pass(t); err != nil {
			t.Fatal(err)
		}
		h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("b"), "info")})
		for _, d := range mustResolve(t, h, "rev2") {
			h.rt.lost[d.Hash] = true
		}
		err := h.pass(t)
		if err == nil || fault.ClassOf(err) != fault.Transient {
			t.Fatalf("supervised %v: pass that left the container stopped = %v, want a transient error", supervised, err)
		}
		st := h.rep.last().Status
		if st.AppliedRevision != "rev1" || st.Conditions[0].Reason != status.ReasonRetrying {
			t.Errorf("supervised %v: report applied %s, reason %s; want rev1, %s", supervised, st.AppliedRevision, st.Conditions[0].Reason, status.ReasonRetrying)
		}
		clear(h.rt.lost)
		if err := h.pass(t); err != nil {
			t.Fatalf("supervised %v: the next pass: %v", supervised, err)
		}
		in, _ := h.rt.get("detector")
		st = h.rep.last().Status
		if in.State != status.StateRunning || in.Image != digest("b") || st.AppliedRevision != "rev2" || len(st.Errors) != 0 {
			t.Errorf("supervised %v: after the next pass detector = %+v, report %+v; want b running, rev2 applied, no error", supervised, in, st)
		}
	}
}

// mustResolve returns the workloads of rev as the node resolves them.
func mustResolve(t *testing.T, h *harness, rev string) []spec.Desired {
	t.Helper()
	repo, err := spec.ParseForNode(h.src.trees[rev], h.r.cfg.Node)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := repo.Resolve(h.r.cfg.Node, h.r.cfg.Labels)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// A containerd that dies after a pass's actions settled leaves the report
// unable to list what runs. The pass is then transient, not a success
// whose report shows an error and no workload running: `fleetd --once`
// exits 1 and the loop retries soon. The list's failure is in the report
// once, whichever List of the pass failed first.
func TestPassWhoseReportCannotListIsTransient(t *testing.T) {
	down := errors.New("list containers: connection refused")
	for _, failFrom := range []int{1, 2, 3} { // apply's List, settled's, the report's
		h := newHarness(t, insecure())
		h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
		h.rt.listFails = func(call int) error {
			if call >= failFrom {
				return down
			}
			return nil
		}
		err := h.pass(t)
		if err == nil || fault.ClassOf(err) != fault.Transient {
			t.Fatalf("List failing from call %d: pass = %v, want a transient error", failFrom, err)
		}
		st := h.rep.last().Status
		listed := 0
		for _, e := range st.Errors {
			if strings.Contains(e.Reason, down.Error()) {
				listed++
			}
		}
		if listed != 1 || st.Conditions[0].Reason != status.ReasonRetrying {
			t.Errorf("List failing from call %d: report errors %+v, reason %s; want the list's failure once, %s",
				failFrom, st.Errors, st.Conditions[0].Reason, status.ReasonRetrying)
		}
		h.rt.listFails = nil
		if err := h.pass(t); err != nil {
			t.Fatalf("List failing from call %d: the next pass: %v", failFrom, err)
		}
		st = h.rep.last().Status
		if in, _ := h.rt.get("detector"); in.State != status.StateRunning || st.AppliedRevision != "rev1" || len(st.Errors) != 0 || st.Conditions[0].Reason != status.ReasonApplied {
			t.Errorf("List failing from call %d: after the next pass detector = %+v, report %+v; want running, rev1 applied, no error", failFrom, in, st)
		}
	}
}
