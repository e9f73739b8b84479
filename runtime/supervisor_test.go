package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// modelServer pushes examples/model-server to a registry of its own and
// pulls it into e; it returns the image reference.
func (e *env) modelServer(t *testing.T) string {
	t.Helper()
	host := ocitest.NewRegistry(t)
	image := ocitest.ModelServerImage(t, host, "models/server", "defect-v1.json")
	if err := e.c.Pull(t.Context(), source(t, image, []spec.Registry{{Host: host, PlainHTTP: true}})); err != nil {
		t.Fatal(err)
	}
	return image
}

// serverWorkload is the model server on port with restart policy and flags.
func serverWorkload(name, image string, port int, restart string, flags ...string) spec.Desired {
	return withHash(name, spec.WorkloadSpec{
		Image:   image,
		Args:    append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", port)}, flags...),
		Ports:   []int{port},
		Restart: restart,
	})
}

// supervise runs a Supervisor of e.c until the end of t.
func (e *env) supervise(t *testing.T, cfg SupervisorConfig) *Supervisor {
	t.Helper()
	s, err := NewSupervisor(e.c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// state returns the state and exit code of the workload's only instance.
func (e *env) state(t *testing.T, workload string) (string, int) {
	t.Helper()
	for _, in := range e.list(t) {
		if in.Workload == workload {
			return in.State, in.ExitCode
		}
	}
	return status.StateMissing, 0
}

// kill sends sig to the workload's task, by hand as an operator would.
func (e *env) kill(t *testing.T, workload string, sig syscall.Signal) {
	t.Helper()
	ctx := e.c.ns(t.Context())
	task, err := e.c.runningTask(ctx, workload, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, sig); err != nil {
		t.Fatal(err)
	}
}

// supEvent is what OnChange saw: an exit with its restart scheduled, or a
// restart.
type supEvent struct {
	restart  bool
	at       time.Time     // when OnChange saw it
	next     time.Time     // exit: the restart's scheduled time
	delay    time.Duration // exit: the backoff chosen
	restarts int
}

// TestSupervisorRestartsACrashLoopWithGrowingDelays: on the real stack,
// each crash is followed by a restart no sooner than scheduled, the
// backoff grows, the crash loop is flagged, and the counts outlive the
// agent. The schedule's exact values are proven in the synctest unit tests
// (supervisor_unit_test.go); here only order and outcome count.
func TestSupervisorRestartsACrashLoopWithGrowingDelays(t *testing.T) {
	e := setup(t)
	image := e.modelServer(t)
	d := serverWorkload("crasher", image, porttest.Port(t), spec.RestartAlways, "--crash-after", "1s")

	const base = 250 * time.Millisecond
	var mu sync.Mutex
	var events []supEvent
	var s *Supervisor
	s = e.supervise(t, SupervisorConfig{BackoffBase: base, CrashLoopRestarts: 4,
		OnChange: func(w string) {
			st, _ := s.Status(w)
			mu.Lock()
			defer mu.Unlock()
			prev := 0
			if n := len(events); n > 0 {
				prev = events[n-1].restarts
			}
			switch {
			case st.Restarts > prev:
				events = append(events, supEvent{restart: true, at: time.Now(), restarts: st.Restarts})
			case !st.NextRestart.IsZero():
				events = append(events, supEvent{at: time.Now(), next: st.NextRestart, delay: st.RestartDelay, restarts: st.Restarts})
			}
		}})
	e.run(t, d, "rev1")

	restarts := func() int {
		n := 0
		for _, ev := range snapshot(&mu, &events) {
			if ev.restart {
				n++
			}
		}
		return n
	}
	waitFor(t, "a crash loop with 4 restarts", func() bool { return s.CrashLoop("crasher") && restarts() >= 4 })
	evs := snapshot(&mu, &events)[:8]
	var delays []time.Duration
	for i, ev := range evs {
		if ev.restart != (i%2 == 1) {
			t.Fatalf("events %+v, want exit (restart scheduled) and restart in turn", evs)
		}
		if !ev.restart {
			delays = append(delays, ev.delay)
			continue
		}
		if exit := evs[i-1]; ev.at.Before(exit.next) {
			t.Errorf("restart %d at %v, before its scheduled time %v", ev.restarts, ev.at, exit.next)
		}
	}
	if delays[0] != base {
		t.Errorf("first backoff %v, want BackoffBase %v", delays[0], base)
	}
	for i := 1; i < len(delays); i++ {
		if delays[i] <= delays[i-1] {
			t.Errorf("backoffs %v, want each longer than the one before (crashes in a row)", delays)
			break
		}
	}
	n, codes := s.Restarts("crasher")
	if n < 4 || len(codes) < 4 {
		t.Fatalf("Restarts = %d, %v; want at least 4", n, codes)
	}
	for _, c := range codes {
		if c != 3 {
			t.Errorf("exit codes %v, want 3 (--crash-after)", codes)
			break
		}
	}
	// The counts live in the container's labels: a new agent sees them.
	e2 := &env{d: e.d, logDir: e.logDir}
	e2.c = e2.connect(t)
	s2, err := NewSupervisor(e2.c, SupervisorConfig{CrashLoopRestarts: 4})
	if err != nil {
		t.Fatal(err)
	}
	s2.relist(e2.c.ns(t.Context()))
	if n2, _ := s2.Restarts("crasher"); n2 < 4 || !s2.CrashLoop("crasher") {
		t.Errorf("a new agent sees %d restarts (crash loop %v), want ≥ 4 and a crash loop", n2, s2.CrashLoop("crasher"))
	}
}

func snapshot[T any](mu *sync.Mutex, s *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return append([]T(nil), *s...)
}

func TestSupervisorPolicies(t *testing.T) {
	e := setup(t)
	image := e.modelServer(t)
	s := e.supervise(t, SupervisorConfig{BackoffBase: 100 * time.Millisecond})
	never := serverWorkload("never", image, porttest.Port(t), spec.RestartNever, "--crash-after", "1s")
	onFailure := serverWorkload("onfailure", image, porttest.Port(t), spec.RestartOnFailure)
	always := serverWorkload("always", image, porttest.Port(t), spec.RestartAlways)
	for _, d := range []spec.Desired{never, onFailure, always} {
		e.run(t, d, "rev1")
	}
	// By hand: a clean stop (exit 0) and a kill.
	e.kill(t, "onfailure", syscall.SIGTERM)
	e.kill(t, "always", syscall.SIGKILL)

	waitFor(t, "always to be restarted after a kill by hand", func() bool {
		n, codes := s.Restarts("always")
		st, _ := e.state(t, "always")
		return n == 1 && len(codes) == 1 && codes[0] == 137 && st == status.StateRunning
	})
	// The Supervisor's decision, once made, is final: stopped, no restart
	// pending (a re-list leaves a stopped task it knows alone).
	for _, w := range []struct {
		name string
		code int
	}{{"never", 3}, {"onfailure", 0}} {
		waitFor(t, w.name+" to be judged", func() bool { rs, _ := s.Status(w.name); return rs.Stopped })
		if rs, _ := s.Status(w.name); rs.Restarts != 0 || !rs.NextRestart.IsZero() || !slices.Equal(rs.LastExits, []int{w.code}) {
			t.Errorf("%s: %+v, want stopped after exit %d, no restart made or pending", w.name, rs, w.code)
		}
		if st, code := e.state(t, w.name); st != status.StateStopped || code != w.code {
			t.Errorf("%s: %s exit %d, want stopped with exit %d", w.name, st, code, w.code)
		}
	}
}

func TestSupervisorLeavesTheAgentsStopsAlone(t *testing.T) {
	e := setup(t)
	image := e.modelServer(t)
	s := e.supervise(t, SupervisorConfig{BackoffBase: 100 * time.Millisecond})
	port := porttest.Port(t)
	v1 := serverWorkload("web", image, port, spec.RestartAlways)
	e.run(t, v1, "rev1")
	// An update on the same port stops v1 before v2 starts.
	v2 := serverWorkload("web", image, port, spec.RestartAlways, "--start-delay", "1ms")
	e.run(t, v2, "rev2")
	other := serverWorkload("gone", image, porttest.Port(t), spec.RestartAlways)
	e.run(t, other, "rev1")
	if err := e.c.Remove(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	// A marker's exit by hand, made after the agent's stops, is handled
	// after theirs (one event stream, in order): once the Supervisor has
	// judged it, it has seen the agent's stops too.
	marker := serverWorkload("marker", image, porttest.Port(t), spec.RestartNever)
	e.run(t, marker, "rev1")
	e.kill(t, "marker", syscall.SIGKILL)
	waitFor(t, "the marker's exit to be handled", func() bool { rs, _ := s.Status("marker"); return rs.Stopped })
	got := map[string]string{}
	for _, in := range e.list(t) {
		got[in.Workload] += in.SpecHash
	}
	if want := map[string]string{"web": v2.Hash, "marker": marker.Hash}; !maps.Equal(got, want) {
		t.Errorf("instances (workload: spec hash) %v, want %v", got, want)
	}
	if n, _ := s.Restarts("web"); n != 0 {
		t.Errorf("%d restarts of web, want none: the agent stopped it", n)
	}
	if _, ok := s.Status("gone"); ok {
		t.Error("a removed workload is still supervised")
	}
}

func TestSupervisorRestartsWhatExitedWhileTheAgentWasDown(t *testing.T) {
	e := setup(t)
	image := e.modelServer(t)
	d := serverWorkload("crashed", image, porttest.Port(t), spec.RestartAlways, "--crash-after", "500ms")
	e.run(t, d, "rev1")
	waitFor(t, "the task to exit", func() bool { st, _ := e.state(t, "crashed"); return st == status.StateStopped })
	// The task also goes away by hand in another workload.
	gone := serverWorkload("deleted", image, porttest.Port(t), spec.RestartAlways)
	e.run(t, gone, "rev1")
	e.deleteTask(t, e.only2(t, "deleted").ID)
	if st, _ := e.state(t, "deleted"); st != status.StateCreated {
		t.Fatalf("after deleting the task by hand List says %s, want created", st)
	}

	s := e.supervise(t, SupervisorConfig{BackoffBase: 100 * time.Millisecond})
	waitFor(t, "both to be restarted", func() bool {
		a, _ := s.Restarts("crashed")
		b, _ := s.Restarts("deleted")
		return a >= 1 && b == 1
	})
	if _, codes := s.Restarts("deleted"); len(codes) != 1 || codes[0] != ExitGone {
		t.Errorf("exit codes of a task deleted by hand: %v, want [%d]", codes, ExitGone)
	}
	waitFor(t, "deleted to run", func() bool { st, _ := e.state(t, "deleted"); return st == status.StateRunning })
}

// only2 returns the instance of the workload.
func (e *env) only2(t *testing.T, workload string) status.Instance {
	t.Helper()
	for _, in := range e.list(t) {
		if in.Workload == workload {
			return in
		}
	}
	t.Fatalf("no instance of %s", workload)
	return status.Instance{}
}
