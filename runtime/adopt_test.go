package runtime

import (
	"strings"
	"syscall"
	"testing"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/status"
)

// An agent that restarts finds its running container by label and keeps it;
// one whose process died is reported stopped and recreated by Run, and its
// shim does not linger.
func TestAdoptAfterAgentRestart(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	d := desired("detector", port, map[string]string{"VERSION": "1"})
	e.run(t, d, "rev1")
	before := e.only(t, d)
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}

	e.c = e.connect(t) // the restarted agent
	if in := e.only(t, d); in.State != status.StateRunning || in.PID != before.PID || in.Revision != "rev1" {
		t.Fatalf("after agent restart: %+v, want %+v", in, before)
	}
	e.run(t, d, "rev1")
	if in := e.only(t, d); in.PID != before.PID {
		t.Fatalf("Run after agent restart changed PID %d to %d", before.PID, in.PID)
	}

	// The process dies behind the agent's back.
	if err := syscall.Kill(int(before.PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stopped state", func() bool { return e.only(t, d).State == status.StateStopped })
	if in := e.only(t, d); in.ExitCode != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code %d, want %d", in.ExitCode, 128+int(syscall.SIGKILL))
	}
	e.run(t, d, "rev1")
	in := e.only(t, d)
	if in.State != status.StateRunning || in.PID == before.PID {
		t.Errorf("after Run of a stopped container: %+v, want running with a new PID", in)
	}
	if _, body := get(t, port, "/env"); !strings.Contains(body, "VERSION=1\n") {
		t.Errorf("recreated container env:\n%s", body)
	}
	waitFor(t, "one shim", func() bool { return shims(t, e.d) == 1 })
}

// containerd restarts: the workload keeps running and a new client finds it;
// a workload that exits while containerd is down shows stopped afterwards
// and Run recreates it.
func TestContainerdRestart(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	d := desired("detector", port, nil)
	e.run(t, d, "rev1")
	before := e.only(t, d)
	e.c.Close()

	if err := e.d.Restart(); err != nil {
		t.Fatal(err)
	}
	e.c = e.connect(t)
	if in := e.only(t, d); in.State != status.StateRunning || in.PID != before.PID {
		t.Fatalf("after containerd restart: %+v, want running PID %d", in, before.PID)
	}
	if code, _ := get(t, port, "/env"); code != 200 {
		t.Errorf("workload answers %d after containerd restart", code)
	}
	e.run(t, d, "rev1")
	if in := e.only(t, d); in.PID != before.PID {
		t.Errorf("Run after containerd restart changed PID %d to %d", before.PID, in.PID)
	}

	// The workload exits while containerd is down.
	e.c.Close()
	if err := e.d.StopProcess(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(before.PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := e.d.StartProcess(); err != nil {
		t.Fatal(err)
	}
	e.c = e.connect(t)
	waitFor(t, "stopped state", func() bool { return e.only(t, d).State == status.StateStopped })
	e.run(t, d, "rev1")
	if in := e.only(t, d); in.State != status.StateRunning || in.PID == before.PID {
		t.Errorf("after Run: %+v, want running with a new PID", in)
	}
	waitFor(t, "one shim", func() bool { return shims(t, e.d) == 1 })
}
