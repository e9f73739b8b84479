// Package reconcilertest checks that a reconciler.Runtime behaves as the
// reconciler relies on, in the spirit of testing/fstest.TestFS: the same
// suite runs against the reconciler's fake runtime and against the real
// containerd adapter, so the fake cannot drift from the real thing.
package reconcilertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// Options gives the suite what it runs. Every field is required.
type Options struct {
	// Workload returns the spec of a workload whose process starts and
	// keeps running, listening on port of the host (host networking): its
	// image pinned by digest, its Ports [port]. The suite varies Env to
	// make new versions.
	Workload func(port int) spec.WorkloadSpec
	// Unstartable returns the spec of a workload whose process cannot
	// start at all (say an image without the executable it names), with
	// Ports [port]; its image pinned by digest and pullable.
	Unstartable func(port int) spec.WorkloadSpec
	// Registries say where images are pulled from: each Pull gets the
	// first of spec.Sources.
	Registries []spec.Registry
	// Timeout bounds each case; it only turns a hang into a failure.
	// Default 3 minutes.
	Timeout time.Duration
}

// TestRuntime runs the contract's cases as subtests of t, each on a fresh
// runtime from newRT (one that owns no container yet; the real adapter
// gets a namespace of its own).
//
// The contract, case by case:
//   - Pull fetches a pinned reference (again: no error) and refuses one
//     that is not pinned by digest.
//   - List shows what Run started: workload, spec hash, revision, image,
//     running, with an ID; nothing else.
//   - Run of a spec that already runs leaves its container alone (same ID,
//     same PID): a restarted agent adopts what runs.
//   - Run of a new spec whose ports do not clash with the old one keeps
//     the old one serving (same PID) beside it; Retire then removes every
//     container of the workload but the kept one, which keeps serving;
//     Retire again, or of a workload with nothing to retire, succeeds.
//   - Run of a new spec on the same ports replaces the old one: only the
//     new one is listed.
//   - Run of a spec whose process cannot start fails with an error of
//     class fault.Refused (the workload's own failure), and the old
//     version is listed running again afterwards, ports clashing or not.
//   - Remove deletes every container of the workload and no other; a
//     second Remove, or one of an unknown workload, succeeds.
func TestRuntime(t *testing.T, newRT func(t *testing.T) reconciler.Runtime, opts Options) {
	t.Helper()
	if opts.Workload == nil || opts.Unstartable == nil {
		t.Fatal("reconcilertest: Options.Workload and Options.Unstartable are required")
	}
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}
	for _, c := range []struct {
		name string
		run  func(*suite)
	}{
		{"Pull", (*suite).pull},
		{"RunIsListed", (*suite).runIsListed},
		{"RunOfWhatRunsAdopts", (*suite).runAdopts},
		{"NewSpecServesBesideOldUntilRetire", (*suite).besideUntilRetire},
		{"NewSpecOnSamePortsReplaces", (*suite).samePortsReplace},
		{"UnstartableIsRefusedAndOldServes", (*suite).unstartable},
		{"RemoveIsIdempotent", (*suite).remove},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), opts.Timeout)
			defer cancel()
			c.run(&suite{t: t, ctx: ctx, rt: newRT(t), opts: opts})
		})
	}
}

// suite is one case's runtime and helpers.
type suite struct {
	t    *testing.T
	ctx  context.Context
	rt   reconciler.Runtime
	opts Options
}

// desired names ws as workload name with the hash the agent gives it.
func desired(name string, ws spec.WorkloadSpec) spec.Desired {
	return spec.Desired{Name: name, Spec: ws, Hash: spec.HashSpec(ws)}
}

// workload is a runnable version of name on a free port; version sets an
// environment variable, so that versions differ in spec hash.
func (s *suite) workload(name, version string, port int) spec.Desired {
	ws := s.opts.Workload(port)
	env := map[string]string{"CONTRACT_VERSION": version}
	for k, v := range ws.Env {
		env[k] = v
	}
	ws.Env = env
	return desired(name, ws)
}

// source is where the suite pulls ref from: the first source the
// registries give it, as the image adapter hands it on.
func (s *suite) source(ref string) spec.ImageSource {
	s.t.Helper()
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		s.t.Fatalf("image %s: %v", ref, err)
	}
	return spec.Sources(s.opts.Registries, img)[0]
}

func (s *suite) pullAndRun(d spec.Desired, rev string) {
	s.t.Helper()
	if err := s.rt.Pull(s.ctx, s.source(d.Spec.Image)); err != nil {
		s.t.Fatalf("Pull(%s): %v", d.Spec.Image, err)
	}
	if err := s.rt.Run(s.ctx, d, rev); err != nil {
		s.t.Fatalf("Run(%s %.19s): %v", d.Name, d.Hash, err)
	}
}

func (s *suite) list() []status.Instance {
	s.t.Helper()
	ins, err := s.rt.List(s.ctx)
	if err != nil {
		s.t.Fatalf("List: %v", err)
	}
	return ins
}

// of returns the listed instances of workload.
func (s *suite) of(workload string) []status.Instance {
	s.t.Helper()
	var out []status.Instance
	for _, in := range s.list() {
		if in.Workload == workload {
			out = append(out, in)
		}
	}
	return out
}

// only returns the single listed instance of d's workload, which must run
// d's spec.
func (s *suite) only(d spec.Desired) status.Instance {
	s.t.Helper()
	ins := s.of(d.Name)
	if len(ins) != 1 || ins[0].SpecHash != d.Hash || ins[0].State != status.StateRunning {
		s.t.Fatalf("%s: listed %+v; want one running instance of spec %.19s", d.Name, ins, d.Hash)
	}
	return ins[0]
}

// byHash returns the listed instance of d's workload and spec.
func (s *suite) byHash(d spec.Desired) (status.Instance, bool) {
	s.t.Helper()
	for _, in := range s.of(d.Name) {
		if in.SpecHash == d.Hash {
			return in, true
		}
	}
	return status.Instance{}, false
}

func (s *suite) pull() {
	d := s.workload("puller", "1", porttest.Port(s.t))
	for range 2 {
		if err := s.rt.Pull(s.ctx, s.source(d.Spec.Image)); err != nil {
			s.t.Fatalf("Pull(%s): %v", d.Spec.Image, err)
		}
	}
	repo, _, _ := strings.Cut(d.Spec.Image, "@")
	if err := s.rt.Pull(s.ctx, s.source(repo+":latest")); err == nil {
		s.t.Errorf("Pull(%s:latest) succeeded; want a reference that is not pinned refused", repo)
	}
	if ins := s.list(); len(ins) != 0 {
		s.t.Errorf("List after pulls = %+v; want no container", ins)
	}
}

func (s *suite) runIsListed() {
	if ins := s.list(); len(ins) != 0 {
		s.t.Fatalf("a fresh runtime lists %+v; want nothing", ins)
	}
	d := s.workload("detector", "1", porttest.Port(s.t))
	s.pullAndRun(d, "rev-1")
	ins := s.list()
	if len(ins) != 1 {
		s.t.Fatalf("List = %+v; want one instance", ins)
	}
	in := ins[0]
	if in.Workload != d.Name || in.SpecHash != d.Hash || in.Revision != "rev-1" || in.Image != d.Spec.Image ||
		in.State != status.StateRunning || in.ID == "" {
		s.t.Errorf("listed %+v; want workload %s, spec %.19s, revision rev-1, image %s, running, with an ID", in, d.Name, d.Hash, d.Spec.Image)
	}
}

func (s *suite) runAdopts() {
	d := s.workload("detector", "1", porttest.Port(s.t))
	s.pullAndRun(d, "rev-1")
	before := s.only(d)
	if err := s.rt.Run(s.ctx, d, "rev-1"); err != nil {
		s.t.Fatalf("Run of the spec that runs: %v", err)
	}
	if after := s.only(d); after.ID != before.ID || after.PID != before.PID {
		s.t.Errorf("Run of the spec that runs changed its container: %+v -> %+v", before, after)
	}
}

func (s *suite) besideUntilRetire() {
	other := s.workload("other", "1", porttest.Port(s.t))
	s.pullAndRun(other, "rev-1")
	otherBefore := s.only(other)
	v1 := s.workload("detector", "1", porttest.Port(s.t))
	s.pullAndRun(v1, "rev-1")
	old := s.only(v1)
	v2 := s.workload("detector", "2", porttest.Port(s.t))
	s.pullAndRun(v2, "rev-2")

	if in, ok := s.byHash(v1); !ok || in.PID != old.PID || in.State != status.StateRunning {
		s.t.Fatalf("old version after Run of a new spec on other ports = %+v (listed %v); want it serving, same PID", in, ok)
	}
	cur, ok := s.byHash(v2)
	if !ok || cur.State != status.StateRunning || cur.Revision != "rev-2" {
		s.t.Fatalf("new version = %+v (listed %v); want it running at rev-2", cur, ok)
	}
	if err := s.rt.Retire(s.ctx, v2.Name, v2.Hash); err != nil {
		s.t.Fatalf("Retire: %v", err)
	}
	if kept := s.only(v2); kept.PID != cur.PID {
		s.t.Errorf("Retire restarted the kept version: %+v -> %+v", cur, kept)
	}
	for _, retire := range []struct{ workload, keep string }{{v2.Name, v2.Hash}, {"nothing-here", v2.Hash}} {
		if err := s.rt.Retire(s.ctx, retire.workload, retire.keep); err != nil {
			s.t.Errorf("Retire(%s) with nothing to retire: %v", retire.workload, err)
		}
	}
	s.only(v2)
	if in := s.only(other); in.PID != otherBefore.PID {
		s.t.Errorf("another workload was touched: %+v -> %+v", otherBefore, in)
	}
}

func (s *suite) samePortsReplace() {
	port := porttest.Port(s.t)
	v1 := s.workload("detector", "1", port)
	s.pullAndRun(v1, "rev-1")
	v2 := s.workload("detector", "2", port)
	s.pullAndRun(v2, "rev-2")
	if in := s.only(v2); in.Revision != "rev-2" {
		s.t.Errorf("listed %+v; want rev-2", in)
	}
}

func (s *suite) unstartable() {
	for _, clash := range []bool{false, true} {
		name := fmt.Sprintf("clash-%v", clash)
		port := porttest.Port(s.t)
		v1 := s.workload(name, "1", port)
		s.pullAndRun(v1, "rev-1")
		badPort := porttest.Port(s.t)
		if clash {
			badPort = port
		}
		bad := desired(name, s.opts.Unstartable(badPort))
		if err := s.rt.Pull(s.ctx, s.source(bad.Spec.Image)); err != nil {
			s.t.Fatalf("Pull(%s): %v", bad.Spec.Image, err)
		}
		err := s.rt.Run(s.ctx, bad, "rev-2")
		if err == nil || fault.ClassOf(err) != fault.Refused {
			s.t.Errorf("ports clash %v: Run of a process that cannot start = %v (class %s); want an error of class refused", clash, err, fault.ClassOf(err))
		}
		if in, ok := s.byHash(v1); !ok || in.State != status.StateRunning {
			s.t.Errorf("ports clash %v: old version after the failed Run = %+v (listed %v); want it running", clash, in, ok)
		}
		if in, ok := s.byHash(bad); ok && in.State == status.StateRunning {
			s.t.Errorf("ports clash %v: the spec that cannot start is listed running: %+v", clash, in)
		}
	}
}

func (s *suite) remove() {
	b := s.workload("b", "1", porttest.Port(s.t))
	s.pullAndRun(b, "rev-1")
	bBefore := s.only(b)
	v1 := s.workload("a", "1", porttest.Port(s.t))
	s.pullAndRun(v1, "rev-1")
	v2 := s.workload("a", "2", porttest.Port(s.t))
	s.pullAndRun(v2, "rev-2")
	if n := len(s.of("a")); n != 2 {
		s.t.Fatalf("a has %d containers before Remove, want 2", n)
	}
	for range 2 {
		if err := s.rt.Remove(s.ctx, "a"); err != nil {
			s.t.Fatalf("Remove(a): %v", err)
		}
		if ins := s.of("a"); len(ins) != 0 {
			s.t.Errorf("listed after Remove(a): %+v; want none", ins)
		}
	}
	if err := s.rt.Remove(s.ctx, "never-ran"); err != nil {
		s.t.Errorf("Remove of an unknown workload: %v", err)
	}
	if in := s.only(b); in.PID != bBefore.PID {
		s.t.Errorf("Remove(a) touched b: %+v -> %+v", bBefore, in)
	}
}
