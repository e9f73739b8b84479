package reconciler

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/status"
)

// TestRestartWhileSourceDownCountsWhatRuns: an agent restarted while the
// git server cannot be reached has read no revision yet; its report still
// counts the workloads that run (2/2, never 0/0), at the revision its state
// file says was applied.
func TestRestartWhileSourceDownCountsWhatRuns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	h := newHarness(t, Config{InsecureSkipVerify: true, StateFile: file})
	h.commit("rev1", map[string]string{
		"detector": workloadYAML("detector", digest("a"), "info"),
		"counter":  workloadYAML("counter", digest("b"), "info"),
	})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	h.src.headErr = errors.New("git server unreachable") // unclassified: transient
	rep := &fakeReporter{}
	r2, err := New(Config{Node: "press-01", InsecureSkipVerify: true, StateFile: file},
		Deps{Source: h.src, Runtime: h.rt, Reporter: rep})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Pass(context.Background()); err == nil {
		t.Fatal("pass with the source down succeeded")
	}
	st := rep.last().Status
	if st.AppliedRevision != "rev1" {
		t.Errorf("applied revision = %q, want rev1", st.AppliedRevision)
	}
	names := map[string]string{}
	for _, w := range st.Workloads {
		names[w.Name] = w.State
	}
	if len(names) != 2 || names["detector"] != status.StateRunning || names["counter"] != status.StateRunning {
		t.Errorf("workloads = %+v, want detector and counter running", st.Workloads)
	}
	if c := st.Condition(status.ConditionReady); c == nil || !strings.HasPrefix(c.Message, "2/2 workloads running") {
		t.Errorf("Ready = %+v, want 2/2 workloads running", c)
	}
}
