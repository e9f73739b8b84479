package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/status"
)

// An agent killed while the task of a replacement was being created leaves
// the new container without a task and the shim's bundle directory behind
// (containerd then answers "failed to start shim: mkdir …: file exists"
// for that ID). The next Run of the new spec finishes the replace: the new
// version runs, the interrupted container and the old version are gone.
func TestRunFinishesAReplaceCutOffWhileCreatingTheTask(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	v1 := desired("detector", port, map[string]string{"V": "1"})
	v2 := desired("detector", port, map[string]string{"V": "2"})
	e.run(t, v1, "rev1")
	old := e.only(t, v1)

	// The cut-off attempt, as the agent before this change named it.
	ctx := e.c.ns(t.Context())
	id, err := containerID(v2.Name, v2.Hash)
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := pinned(v2.Spec.Image)
	if err != nil {
		t.Fatal(err)
	}
	ctr, task, err := e.c.create(ctx, id, ref, v2, "rev2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(e.d.State, "io.containerd.runtime.v2.task", e.c.cfg.Namespace, ctr.ID())
	if err := os.MkdirAll(bundle, 0o711); err != nil {
		t.Fatal(err)
	}

	// A restarted agent, as fleetd starts again.
	c := e.connect(t)
	if err := c.Run(t.Context(), v2, "rev2"); err != nil {
		t.Fatalf("Run of the interrupted replace: %v", err)
	}
	ins, err := c.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].SpecHash != v2.Hash || ins[0].State != status.StateRunning {
		t.Fatalf("List = %+v, want only v2 running", ins)
	}
	if ins[0].ID == id || ins[0].ID == old.ID {
		t.Errorf("v2 runs as %s, an ID used before", ins[0].ID)
	}
	if _, body := get(t, port, "/env"); !strings.Contains(body, "V=2\n") {
		t.Errorf("the workload on port %d is not v2:\n%s", port, body)
	}
	if _, err := e.c.client.LoadContainer(ctx, id); err == nil {
		t.Errorf("the interrupted container %s is still there", id)
	}
}
