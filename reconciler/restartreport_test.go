package reconciler

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// scriptedHealth answers every workload with one verdict.
type scriptedHealth struct{ verdict string }

func (h *scriptedHealth) Watch([]spec.Desired)                               {}
func (h *scriptedHealth) Wait(context.Context, string, string) (bool, error) { return true, nil }
func (h *scriptedHealth) Health(string) (string, string)                     { return h.verdict, "" }

// countingSupervisor reports a fixed restart count.
type countingSupervisor struct{ restarts int }

func (s *countingSupervisor) Restarts(string) (int, []int) { return s.restarts, nil }
func (s *countingSupervisor) CrashLoop(string) bool        { return false }

// TestRestartAloneCommitsNothing: with the real status writer pushing to
// a git repository, an agent that restarts and finds its workload as it
// left it (its health monitor not yet past "starting", its restart count
// back at zero) commits no report; a verdict of the new run does.
func TestRestartAloneCommitsNothing(t *testing.T) {
	repo := gittest.NewRepo(t)
	loc, err := source.ParseLocation(gittest.FileURL(repo.BareDir), source.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	writer := func() *source.StatusWriter {
		w, err := source.NewStatusWriter(source.StatusConfig{Location: loc, Node: "press-01", Dir: filepath.Join(state, "status")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	file := filepath.Join(state, "state.json")
	h := newHarness(t, Config{InsecureSkipVerify: true, StateFile: file})
	health, sup := &scriptedHealth{verdict: "healthy"}, &countingSupervisor{restarts: 2}
	w1 := writer()
	h.r.deps.Reporter, h.r.deps.Reports, h.r.deps.Health, h.r.deps.Supervisor = w1, w1, health, sup
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	ref := "refs/heads/status/press-01"
	first := repo.RemoteRef(ref)
	if first == "" {
		t.Fatal("the first pass pushed no report")
	}

	// The agent restarts: a new reconciler and writer on the same state.
	health.verdict, sup.restarts = "starting", 0
	w2 := writer()
	r2, err := New(Config{Node: "press-01", InsecureSkipVerify: true, StateFile: file},
		Deps{Source: h.src, Runtime: h.rt, Reporter: w2, Reports: w2, Health: health, Supervisor: sup})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r2.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := repo.RemoteRef(ref); got != first {
		t.Errorf("a restart alone committed: %s", repo.BareGit("log", "--format=%s", first+".."+got))
	}

	// The new run's own verdict speaks.
	health.verdict = "unhealthy"
	if err := r2.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := repo.RemoteRef(ref); got == first {
		t.Error("an unhealthy verdict after the restart committed nothing")
	}
	st, err := w2.Reports(context.Background(), []string{"press-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wl := st["press-01"].Status.Workloads[0]
	if wl.Health != "unhealthy" || wl.Restarts != 2 || st["press-01"].Status.Condition(status.ConditionReady).Reason != status.ReasonProgressing {
		t.Errorf("report after the verdict: %+v %+v", wl, st["press-01"].Status.Conditions)
	}
}
