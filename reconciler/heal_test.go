package reconciler

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// fakeHealth gives scripted verdicts by spec hash.
type fakeHealth struct {
	unhealthy map[string]bool
	watched   []spec.Desired
	byName    map[string]string // name -> hash of the last Wait
}

func (f *fakeHealth) Watch(d []spec.Desired) { f.watched = d }

func (f *fakeHealth) Wait(_ context.Context, name, hash string) (bool, error) {
	f.byName[name] = hash
	return !f.unhealthy[hash], nil
}

func (f *fakeHealth) Health(name string) (string, string) {
	hash := f.byName[name]
	for _, d := range f.watched {
		if d.Name == name {
			hash = d.Hash
		}
	}
	if f.unhealthy[hash] {
		return "unhealthy", "GET /healthz: 503"
	}
	return "healthy", ""
}

// fakeSupervisor flags crash loops by workload.
type fakeSupervisor struct{ looping map[string]bool }

func (f *fakeSupervisor) Restarts(w string) (int, []int) {
	if f.looping[w] {
		return 5, []int{3, 3, 3, 3, 3}
	}
	return 0, nil
}
func (f *fakeSupervisor) CrashLoop(w string) bool { return f.looping[w] }

// fakeGC records what it was told to keep.
type fakeGC struct{ keep []string }

func (f *fakeGC) GC(_ context.Context, keep []string) ([]string, error) {
	f.keep = keep
	return nil, nil
}

func TestUnhealthyVersionIsRolledBackAndSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	health := &fakeHealth{unhealthy: map[string]bool{}, byName: map[string]string{}}
	gc := &fakeGC{}
	h := newHarness(t, Config{InsecureSkipVerify: true, StateFile: file})
	h.r.deps.Health, h.r.deps.GC = health, gc
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("b"), "info")})
	health.unhealthy[resolveHash(t, h, "rev2", "detector")] = true
	err := h.pass(t)
	if !strings.Contains(fmtErr(err), "rolled back detector from "+digest("b")+" to "+digest("a")+": unhealthy: GET /healthz: 503") {
		t.Fatalf("pass = %v", err)
	}
	if in, _ := h.rt.get("detector"); in.Image != digest("a") {
		t.Errorf("detector runs %s, want the fallback %s", in.Image, digest("a"))
	}
	if len(health.watched) != 1 || health.watched[0].Spec.Image != digest("a") {
		t.Errorf("health watches %+v; want the fallback", health.watched)
	}
	if !contains(gc.keep, digest("a")) {
		t.Errorf("GC keep = %v; the fallback image must be kept", gc.keep)
	}
	w := h.rep.last().Status.Workloads[0]
	if w.Image != digest("a") || !strings.HasPrefix(w.Message, "rolled back") || w.Health != "healthy" {
		t.Errorf("workload status = %+v", w)
	}

	// A restarted agent remembers the failure and the fallback.
	r2, err := New(Config{Node: "press-01", InsecureSkipVerify: true, StateFile: file},
		Deps{Source: h.src, Runtime: h.rt, Reporter: h.rep, Health: health})
	if err != nil {
		t.Fatal(err)
	}
	runs := h.rt.runs
	if err := r2.Pass(context.Background()); err != nil {
		t.Fatalf("pass after restart: %v", err)
	}
	if h.rt.runs != runs {
		t.Error("a restarted agent retried the version that had been rolled back")
	}
	if st := h.rep.last().Status; len(st.Errors) != 1 || st.Conditions[0].Reason != status.ReasonRolledBack {
		t.Errorf("status after restart = %+v", st)
	}
}

func TestCrashLoopRollsBack(t *testing.T) {
	sup := &fakeSupervisor{looping: map[string]bool{}}
	h := newHarness(t, insecure())
	h.r.deps.Supervisor = sup
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	h.commit("rev2", map[string]string{"detector": workloadYAML("detector", digest("b"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	sup.looping["detector"] = true
	if err := h.pass(t); err != nil {
		t.Fatalf("pass = %v", err)
	}
	if in, _ := h.rt.get("detector"); in.Image != digest("a") {
		t.Errorf("detector runs %s after a crash loop, want the fallback", in.Image)
	}
	sup.looping["detector"] = false
	st := h.rep.last().Status
	if w := st.Workloads[0]; w.Restarts != 5 || !strings.HasPrefix(w.Message, "rolled back detector") {
		t.Errorf("workload = %+v", w)
	}
	if len(st.Errors) != 1 || !strings.Contains(st.Errors[0].Reason, "crash loop (exit codes [3 3 3 3 3])") {
		t.Errorf("errors = %+v", st.Errors)
	}
}

func TestNoFallbackKeepsTheNewVersionAndSaysWhy(t *testing.T) {
	health := &fakeHealth{unhealthy: map[string]bool{}, byName: map[string]string{}}
	h := newHarness(t, insecure())
	h.r.deps.Health = health
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	health.unhealthy[resolveHash(t, h, "rev1", "detector")] = true
	err := h.pass(t)
	if err == nil || !strings.Contains(err.Error(), "no earlier version to roll back to") {
		t.Fatalf("pass = %v", err)
	}
	if _, ok := h.rt.get("detector"); !ok {
		t.Error("the only version was removed")
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

func TestDriftIsCorrectedAndReported(t *testing.T) {
	h := newHarness(t, insecure())
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if w := h.rep.last().Status.Workloads[0]; w.Message != "" {
		t.Errorf("a first deploy carries a note: %q", w.Message)
	}
	h.rt.drop("detector") // removed by hand
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if w := h.rep.last().Status.Workloads[0]; w.State != "running" || w.Message != "restored: its container was gone" {
		t.Errorf("workload = %+v", w)
	}
	in, _ := h.rt.get("detector")
	in.SpecHash = "" // its spec changed by hand
	h.rt.set(in)
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if w := h.rep.last().Status.Workloads[0]; w.Message != "drift corrected: container changed outside gitfleet" {
		t.Errorf("workload = %+v", w)
	}
}

func TestCrashLoopWithoutFallbackIsReported(t *testing.T) {
	sup := &fakeSupervisor{looping: map[string]bool{"detector": true}}
	h := newHarness(t, insecure())
	h.r.deps.Supervisor = sup
	h.commit("rev1", map[string]string{"detector": workloadYAML("detector", digest("a"), "info")})
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if w := h.rep.last().Status.Workloads[0]; w.Message != "crash loop (exit codes [3 3 3 3 3])" || w.Restarts != 5 {
		t.Errorf("workload = %+v", w)
	}
}
