package runtime

import (
	"context"
	"fmt"
	containerd "github.com/containerd/containerd"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// modelServer pushes examples/model-server to a registry of its own and
// pulls it into e; it returns the image reference.
func (e *env) modelServer(t *testing.T) string {
	t.Helper()
	host := ocitest.NewRegistry(t)
	image := ocitest.ModelServerImage(t, host, "models/server", "defect-v1.json")
	if err := e.c.Pull(t.Context(), image, []spec.Registry{{Host: host, PlainHTTP: true}}); err != nil {
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

func TestSupervisorRestartsACrashLoopWithGrowingDelays(t *testing.T) {
	e := setup(t)
	image := e.modelServer(t)
	d := serverWorkload("crasher", image, freePort(t), spec.RestartAlways, "--crash-after", "1s")

	type restart struct{ exit, start time.Time }
	var mu sync.Mutex
	var restarts []restart
	var s *Supervisor
	s = e.supervise(t, SupervisorConfig{BackoffBase: 250 * time.Millisecond, CrashLoopRestarts: 4,
		OnChange: func(w string) {
			st, _ := s.Status(w)
			mu.Lock()
			defer mu.Unlock()
			if st.Restarts > len(restarts) {
				restarts = append(restarts, restart{exit: st.LastExit, start: time.Now()})
			}
		}})
	e.run(t, d, "rev1")

	deadline := time.Now().Add(30 * time.Second)
	for !s.CrashLoop("crasher") || len(snapshot(&mu, &restarts)) < 4 {
		if time.Now().After(deadline) {
			st, _ := s.Status("crasher")
			t.Fatalf("no crash loop after 30 s: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rs := snapshot(&mu, &restarts)
	for i, r := range rs[:4] {
		gap := r.start.Sub(r.exit)
		want := 250 * time.Millisecond << i
		t.Logf("restart %d: %v after the exit", i+1, gap.Round(time.Millisecond))
		if gap < want-50*time.Millisecond || gap > want+time.Second {
			t.Errorf("restart %d came %v after the exit, want about %v", i+1, gap, want)
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
	never := serverWorkload("never", image, freePort(t), spec.RestartNever, "--crash-after", "1s")
	onFailure := serverWorkload("onfailure", image, freePort(t), spec.RestartOnFailure)
	always := serverWorkload("always", image, freePort(t), spec.RestartAlways)
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
	waitFor(t, "never to exit", func() bool { st, _ := e.state(t, "never"); return st == status.StateStopped })
	waitFor(t, "onfailure to exit", func() bool { st, _ := e.state(t, "onfailure"); return st == status.StateStopped })
	time.Sleep(2 * time.Second) // well past any backoff
	if st, code := e.state(t, "never"); st != status.StateStopped || code != 3 {
		t.Errorf("never: %s exit %d, want stopped with exit 3", st, code)
	}
	if rs, _ := s.Status("never"); !rs.Stopped || rs.Restarts != 0 {
		t.Errorf("never: %+v, want stopped, no restart", rs)
	}
	if st, code := e.state(t, "onfailure"); st != status.StateStopped || code != 0 {
		t.Errorf("on-failure after exit 0: %s exit %d, want stopped with exit 0", st, code)
	}
	if rs, _ := s.Status("onfailure"); !rs.Stopped || rs.Restarts != 0 {
		t.Errorf("onfailure: %+v, want stopped, no restart", rs)
	}
}

func TestSupervisorLeavesTheAgentsStopsAlone(t *testing.T) {
	e := setup(t)
	image := e.modelServer(t)
	s := e.supervise(t, SupervisorConfig{BackoffBase: 100 * time.Millisecond})
	port := freePort(t)
	v1 := serverWorkload("web", image, port, spec.RestartAlways)
	e.run(t, v1, "rev1")
	// An update on the same port stops v1 before v2 starts.
	v2 := serverWorkload("web", image, port, spec.RestartAlways, "--start-delay", "1ms")
	e.run(t, v2, "rev2")
	other := serverWorkload("gone", image, freePort(t), spec.RestartAlways)
	e.run(t, other, "rev1")
	if err := e.c.Remove(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	e.only(t, v2)
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
	d := serverWorkload("crashed", image, freePort(t), spec.RestartAlways, "--crash-after", "500ms")
	e.run(t, d, "rev1")
	waitFor(t, "the task to exit", func() bool { st, _ := e.state(t, "crashed"); return st == status.StateStopped })
	// The task also goes away by hand in another workload.
	gone := serverWorkload("deleted", image, freePort(t), spec.RestartAlways)
	e.run(t, gone, "rev1")
	ctx := e.c.ns(t.Context())
	ctr, err := e.c.client.LoadContainer(ctx, e.only2(t, "deleted").ID)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
		t.Fatal(err)
	}
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
