package reconciler

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/status"
)

type harness struct {
	src *fakeSource
	rt  *fakeRuntime
	rep *fakeReporter
	r   *Reconciler
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{src: &fakeSource{trees: map[string]fstest.MapFS{}}, rt: newFakeRuntime(), rep: &fakeReporter{}}
	if cfg.Node == "" {
		cfg.Node = "press-01"
	}
	r, err := New(cfg, Deps{Source: h.src, Runtime: h.rt, Reporter: h.rep})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

// commit publishes a revision and moves the branch to it.
func (h *harness) commit(rev string, workloads map[string]string) {
	h.src.trees[rev] = tree(workloads)
	h.src.head = rev
}

func (h *harness) pass(t *testing.T) error {
	t.Helper()
	return h.r.Pass(context.Background())
}

func insecure() Config { return Config{InsecureSkipVerify: true} }

func TestPassFirstDeployThenNoChange(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatalf("first pass: %v", err)
	}
	in, ok := h.rt.get("detector")
	if !ok || in.Revision != "rev1" || in.State != status.StateRunning {
		t.Fatalf("detector = %+v, %v; want running at rev1", in, ok)
	}
	st := h.rep.last().Status
	if st.AppliedRevision != "rev1" || st.ObservedRevision != "rev1" || len(st.Errors) != 0 {
		t.Fatalf("status = %+v", st)
	}
	if len(st.Workloads) != 1 || st.Workloads[0].State != status.StateRunning || st.Workloads[0].Image != digest("a") {
		t.Fatalf("status workloads = %+v", st.Workloads)
	}
	if !st.VerificationDisabled {
		t.Error("insecure mode must be visible in the report")
	}
	if c := st.Conditions[0]; c.Status != "True" || c.Reason != status.ReasonApplied {
		t.Errorf("condition = %+v", c)
	}

	// The branch did not move: no fetch, no parse, no container change.
	trees, runs := h.src.treeN, h.rt.runs
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if h.src.treeN != trees || h.rt.runs != runs {
		t.Errorf("no-op pass fetched %d trees and ran %d containers; want 0 and 0", h.src.treeN-trees, h.rt.runs-runs)
	}
}

func TestPassEnvChangeReplacesAndRemovalRemoves(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{
		"detector":   workloadYAML("detector", digest("a"), "info"),
		"classifier": workloadYAML("classifier", digest("b"), "info"),
	})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	before, _ := h.rt.get("detector")
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("a"), "debug")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	after, _ := h.rt.get("detector")
	if after.SpecHash == before.SpecHash || after.Revision != "rev2" {
		t.Errorf("detector not replaced: before %+v after %+v", before, after)
	}
	if _, ok := h.rt.get("classifier"); ok {
		t.Error("classifier still runs after it was removed from the repo")
	}
	if ins, _ := h.rt.List(context.Background()); len(ins) != 1 {
		t.Errorf("containers after the switch = %+v; want the old version retired", ins)
	}
	if got := h.rep.last().Status.AppliedRevision; got != "rev2" {
		t.Errorf("applied = %s, want rev2", got)
	}
}

func TestPassBadSpecIsRefusedOnceAndOldKeepsRunning(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	good, _ := h.rt.get("detector")

	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", "registry.example/m:latest", "debug")})
	err := h.pass(t)
	if fault.ClassOf(err) != fault.Refused {
		t.Fatalf("pass over a bad spec = %v; want a stalled error", err)
	}
	if in, _ := h.rt.get("detector"); in.PID != good.PID || in.Revision != "rev1" {
		t.Errorf("detector changed after a refused revision: %+v", in)
	}
	st := h.rep.last().Status
	if st.AppliedRevision != "rev1" || st.ObservedRevision != "rev2" {
		t.Errorf("applied %s observed %s; want rev1 and rev2", st.AppliedRevision, st.ObservedRevision)
	}
	if len(st.Errors) == 0 || st.Errors[0].File != "workloads/detector.yaml" || st.Errors[0].Line != 5 ||
		st.Errors[0].Field != "spec.image" || st.Errors[0].Ref != "rev2" {
		t.Fatalf("errors = %+v; want workloads/detector.yaml:5 spec.image at rev2", st.Errors)
	}
	if c := st.Conditions[0]; c.Status != "False" || c.Reason != status.ReasonRefused {
		t.Errorf("condition = %+v", c)
	}

	// Not retried until the ref moves, and the report still says why.
	trees := h.src.treeN
	if err := h.pass(t); fault.ClassOf(err) != fault.Refused {
		t.Fatalf("second pass = %v; want the same refusal", err)
	}
	if h.src.treeN != trees {
		t.Error("a refused revision was fetched again")
	}
	if len(h.rep.last().Status.Errors) == 0 {
		t.Error("the refusal disappeared from the report")
	}

	h.commit("rev3", map[string]string{"detector": workloadYAML("detector", digest("a"), "debug")})
	if err := h.pass(t); err != nil {
		t.Fatalf("fixed revision: %v", err)
	}
	if st := h.rep.last().Status; st.AppliedRevision != "rev3" || len(st.Errors) != 0 {
		t.Errorf("after the fix: %+v", st)
	}
}

// netErr is a transient network failure.
type netErr struct{}

func (netErr) Error() string   { return "dial tcp 127.0.0.1:5000: connect: connection refused" }
func (netErr) Timeout() bool   { return false }
func (netErr) Temporary() bool { return true }

var _ net.Error = netErr{}

func TestPassRegistryDownKeepsOldAndRetries(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	good, _ := h.rt.get("detector")

	h.rt.pullErr = errors.Join(errors.New("pull 127.0.0.1:5000/models/m"), netErr{})
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("c"), "info")})
	err := h.pass(t)
	if err == nil || fault.ClassOf(err) == fault.Refused {
		t.Fatalf("pass with the registry down = %v; want a transient error", err)
	}
	if in, _ := h.rt.get("detector"); in.PID != good.PID {
		t.Errorf("old detector was touched while the new image could not be pulled")
	}
	st := h.rep.last().Status
	if st.AppliedRevision != "rev1" || len(st.Errors) == 0 || !strings.Contains(st.Errors[0].Reason, "connection refused") {
		t.Errorf("status = %+v; want rev1 applied and the reason", st)
	}

	h.rt.pullErr = nil
	trees := h.src.treeN
	if err := h.pass(t); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if h.src.treeN != trees {
		t.Error("the retry re-fetched a revision it had already parsed")
	}
	if in, _ := h.rt.get("detector"); in.Image != digest("c") {
		t.Errorf("retry did not apply rev2: %+v", in)
	}
}

func TestPassWithoutTrustAppliesNothing(t *testing.T) {
	h := newHarness(t, Config{})
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	err := h.pass(t)
	if !errors.Is(err, ErrNoTrust) || fault.ClassOf(err) != fault.Refused {
		t.Fatalf("pass = %v; want ErrNoTrust", err)
	}
	if h.rt.runs != 0 || h.src.treeN != 0 {
		t.Errorf("an unverified revision was fetched (%d) or run (%d)", h.src.treeN, h.rt.runs)
	}
}

func TestPassRestartsStoppedContainer(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	in, _ := h.rt.get("detector")
	in.State, in.ExitCode = status.StateStopped, 137
	h.rt.set(in)
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	w := h.rep.last().Status.Workloads[0]
	if w.State != status.StateRunning || w.Restarts != 1 {
		t.Errorf("workload = %+v; want running with 1 restart", w)
	}
}

func TestPassFailedRunRollsBackToLastGood(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	good, _ := h.rt.get("detector")
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("a"), "debug")})
	// Every run of the new spec fails as the workload's own failure; the
	// old container keeps serving and stays the workload's container.
	newHash := resolveHash(t, h, "rev2", "detector")
	h.rt.runErr[newHash] = fault.Refuse("", errors.New("runc: exec format error"))
	err := h.pass(t)
	var rb *RollbackError
	if !errors.As(err, &rb) || fault.ClassOf(err) != fault.Refused || !strings.Contains(err.Error(), "cannot start: runc: exec format error") {
		t.Fatalf("pass = %v; want a rollback that waits for a new spec", err)
	}
	if in, ok := h.rt.get("detector"); !ok || in.SpecHash != good.SpecHash || in.PID != good.PID {
		t.Errorf("detector = %+v; want the rev1 container serving on", in)
	}
	st := h.rep.last().Status
	if c := st.Conditions[0]; c.Reason != status.ReasonRolledBack || c.Status != "False" {
		t.Errorf("condition = %+v", c)
	}
	if len(st.Errors) != 1 || !strings.HasPrefix(st.Errors[0].Reason, "rolled back detector from") {
		t.Errorf("errors = %+v", st.Errors)
	}

	// The failed spec is not retried; the report keeps saying why.
	runs := h.rt.runs
	if err := h.pass(t); err != nil {
		t.Fatalf("next pass: %v", err)
	}
	if h.rt.runs != runs {
		t.Error("a failed spec was tried again before it changed")
	}
	if st := h.rep.last().Status; st.AppliedRevision != "rev2" || len(st.Errors) != 1 {
		t.Errorf("status after = %+v", st)
	}

	// A new spec is tried again.
	h.commit("rev3", map[string]string{"detector": workloadYAML("detector", digest("a"), "warn")})
	if err := h.pass(t); err != nil {
		t.Fatalf("rev3: %v", err)
	}
	if st := h.rep.last().Status; len(st.Errors) != 0 || st.Conditions[0].Reason != status.ReasonApplied {
		t.Errorf("status after a new spec = %+v", st)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	h := newHarness(t, Config{InsecureSkipVerify: true, StateFile: file})
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	r2, err := New(Config{Node: "press-01", InsecureSkipVerify: true, StateFile: file},
		Deps{Source: h.src, Runtime: h.rt, Reporter: h.rep})
	if err != nil {
		t.Fatal(err)
	}
	if r2.AppliedRevision() != "rev1" {
		t.Errorf("applied after restart = %q, want rev1", r2.AppliedRevision())
	}
	before, _ := h.rt.get("detector")
	if err := r2.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after, _ := h.rt.get("detector"); after.PID != before.PID {
		t.Error("a restarted agent restarted a running workload instead of adopting it")
	}
}

func resolveHash(t *testing.T, h *harness, rev, name string) string {
	t.Helper()
	r, err := h.r.load(context.Background(), rev)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range r.desired {
		if d.Name == name {
			return d.Hash
		}
	}
	t.Fatalf("%s not in %s", name, rev)
	return ""
}

// fakeCommits refuses or fails revisions by name.
