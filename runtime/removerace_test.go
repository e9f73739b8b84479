package runtime

import (
	"context"
	"testing"

	containerd "github.com/containerd/containerd"
	"github.com/gitfleet/gitfleet/internal/porttest"
)

// restartingContainer is a container whose Supervisor restarts its task
// in the moment between remove's stop (no task found) and its delete: a
// pass that found the container without a task races the restart.
type restartingContainer struct {
	containerd.Container
	c *Containerd
	t *testing.T
}

func (r restartingContainer) Delete(ctx context.Context, opts ...containerd.DeleteOpts) error {
	labels, err := r.Labels(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	task, err := r.c.newTask(ctx, r.Container, labels)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		r.t.Fatal(err)
	}
	return r.Container.Delete(ctx, opts...)
}

// A remove that fails leaves the container's exits to the Supervisor: the
// mark that the agent is stopping it does not stay behind, or the task
// started meanwhile would never be restarted after its next exit.
func TestFailedRemoveLeavesExitsToTheSupervisor(t *testing.T) {
	e := setup(t)
	e.pull(t)
	d := desired("raced", porttest.Port(t), nil)
	e.run(t, d, "rev1")
	ctx := e.c.ns(t.Context())
	ctrs, err := e.c.containersOf(ctx, d.Name)
	if err != nil || len(ctrs) != 1 {
		t.Fatalf("containers of %s: %v, %v", d.Name, ctrs, err)
	}
	ctr := ctrs[0]
	// The task exited and is gone, as when a pass lists the container
	// between a crash and the Supervisor's restart.
	if err := e.c.stopProcess(ctx, ctr); err != nil {
		t.Fatal(err)
	}
	e.c.setStopping(ctr.ID(), false)

	err = e.c.remove(ctx, restartingContainer{Container: ctr, c: e.c, t: t})
	if err == nil {
		t.Fatal("remove deleted a container whose task runs")
	}
	if e.c.isStopping(ctr.ID()) {
		t.Errorf("after a failed remove (%v) the container is still marked as stopped by the agent: the Supervisor would ignore its exits", err)
	}
	if st, err := taskStatus(ctx, ctr); err != nil || st != containerd.Running {
		t.Errorf("task after the failed remove: %v, %v; want running", st, err)
	}
}
