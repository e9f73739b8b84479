package runtime

import (
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// A task that dies while containerd is down keeps its exit: once the daemon
// is back, the Supervisor reads the exit code containerd stored, counts
// the restart and starts the task again.
func TestSupervisorCountsAnExitWhileContainerdWasDown(t *testing.T) {
	e := setup(t)
	image := e.modelServer(t)
	d := serverWorkload("outlived", image, porttest.Port(t), spec.RestartAlways)
	e.run(t, d, "rev1")
	s := e.supervise(t, SupervisorConfig{BackoffBase: 100 * time.Millisecond})
	before := e.only2(t, "outlived")
	if n, _ := s.Restarts("outlived"); n != 0 {
		t.Fatalf("restarts before the outage: %d", n)
	}

	if err := e.d.KillProcess(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(before.PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the workload's process to be gone", func() bool {
		return errors.Is(syscall.Kill(int(before.PID), 0), syscall.ESRCH)
	})
	if err := e.d.StartProcess(); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "the restart after containerd came back", func() bool { n, _ := s.Restarts("outlived"); return n >= 1 })
	n, codes := s.Restarts("outlived")
	if n != 1 || !slices.Equal(codes, []int{128 + int(syscall.SIGKILL)}) {
		t.Errorf("Restarts = %d, exit codes %v; want 1 restart after exit %d", n, codes, 128+int(syscall.SIGKILL))
	}
	waitFor(t, "the workload to run again", func() bool {
		in := e.only2(t, "outlived")
		return in.State == status.StateRunning && in.PID != before.PID
	})
}
