package reconciler

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// countingFS counts the opens of each file of a revision.
type countingFS struct {
	fstest.MapFS
	opens map[string]int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.opens[name]++
	return c.MapFS.Open(name)
}

// TestPassReadsARevisionOnce: a new revision is fetched and each of its
// files read once per pass, rollout groups included, and its commit is
// verified in the mode its own fleet.yaml asks for.
func TestPassReadsARevisionOnce(t *testing.T) {
	commits := &fakeCommits{}
	h := newHarness(t, Config{})
	h.r.deps.Commits = commits
	h.r.deps.Reports = &fakeReports{reports: map[string]*status.NodeStatus{}}
	fsys := wavedTree("info")
	fsys["fleet.yaml"].Data = []byte(strings.Replace(fleetYAML, "spec:\n", "spec:\n  trust: {commits: {mode: all}}\n", 1))
	// This node is in the first wave: nothing holds it.
	fsys["nodes/press-01.yaml"].Data = []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-01, labels: {canary: \"true\"}}\n")
	counted := &countingFS{MapFS: fsys, opens: map[string]int{}}
	h.src.other = map[string]fs.FS{"rev1": counted}
	h.src.head = "rev1"

	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if h.src.treeN != 1 {
		t.Errorf("Tree called %d times for one new revision, want 1", h.src.treeN)
	}
	for name, n := range counted.opens {
		if n > 1 {
			t.Errorf("%s opened %d times in one pass, want once", name, n)
		}
	}
	if counted.opens["nodes/canary-01.yaml"] != 1 {
		t.Errorf("the rollout group's other node was read %d times, want once", counted.opens["nodes/canary-01.yaml"])
	}
	if !slices.Equal(commits.modes, []string{spec.CommitModeAll}) {
		t.Errorf("VerifyCommit asked in modes %q, want [all] from the revision's fleet.yaml", commits.modes)
	}
}

// TestBrokenRevisionIsVerifiedInTheStrictestMode: a revision that does not
// parse is verified as if its fleet.yaml asked for every commit, and
// refused with both reasons.
func TestBrokenRevisionIsVerifiedInTheStrictestMode(t *testing.T) {
	commits := &fakeCommits{refuse: map[string]bool{"rev2": true}}
	h := newHarness(t, Config{})
	h.r.deps.Commits = commits
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", "r.example/m:latest", "info")})
	err := h.pass(t)
	if fault.ClassOf(err) != fault.Refused {
		t.Fatalf("pass = %v; want refused", err)
	}
	if got := commits.modes[len(commits.modes)-1]; got != "" {
		t.Errorf("VerifyCommit of an unparsable revision asked in mode %q, want \"\" (the strictest)", got)
	}
	var reasons []string
	for _, e := range h.rep.last().Status.Errors {
		reasons = append(reasons, e.Ref+" "+e.File+" "+e.Reason)
	}
	all := strings.Join(reasons, "\n")
	if !strings.Contains(all, "no valid signature") || !strings.Contains(all, "workloads/detector.yaml") {
		t.Errorf("errors = %q; want the signature refusal and the spec error", reasons)
	}
}

// TestBrokenOtherNodeFileDoesNotRefuse: in a group with rollout waves, a
// broken nodes/<other>.yaml refuses nothing on this node: the other node
// does not count in the waves, and this node applies the revision.
func TestBrokenOtherNodeFileDoesNotRefuse(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	reports := &fakeReports{reports: map[string]*status.NodeStatus{}}
	h := newHarness(t, insecure())
	h.r.deps.Reports = reports
	h.r.deps.Now = func() time.Time { return now }
	fsys := wavedTree("info")
	reports.reports["canary-01"] = healthyReport("canary-01", "rev1", now.Add(-time.Hour), now)
	// Another node of the rest wave whose file does not parse.
	fsys["nodes/press-02.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-02, labelz: {}}\n")}
	if _, err := spec.Parse(fsys); err == nil {
		t.Fatal("the fixture must not parse as a whole")
	}
	h.src.trees["rev1"], h.src.head = fsys, "rev1"
	if err := h.pass(t); err != nil {
		t.Fatalf("pass = %v; want rev1 applied despite nodes/press-02.yaml", err)
	}
	if in, ok := h.rt.get("detector"); !ok || in.Revision != "rev1" {
		t.Errorf("detector = %+v, %v; want rev1", in, ok)
	}

	// A broken canary file: the canary wave is empty, so this node does not
	// wait for it.
	fsys2 := wavedTree("debug")
	fsys2["nodes/canary-01.yaml"].Data = []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: canary-01, labels: {canary: \"true\"}}\nspec: {workloads: [nope]}\n")
	h.src.trees["rev2"], h.src.head = fsys2, "rev2"
	if err := h.pass(t); err != nil {
		t.Fatalf("pass = %v; want rev2 applied: the broken canary does not count", err)
	}
	if in, _ := h.rt.get("detector"); in.Revision != "rev2" {
		t.Errorf("detector = %+v; want rev2", in)
	}
}
