package runtime

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/status"
)

// Drift by hand, each repaired by the next Run of the same desired spec
// (what the reconciler's next pass does once Plan sees it).
func TestDriftIsSeenAndRepaired(t *testing.T) {
	e := setup(t)
	e.pull(t)
	cases := []struct {
		name string
		// edit changes the container by hand; it returns whether List
		// must still show the workload.
		edit func(t *testing.T, e *env, id string) (listed bool, wantState string)
	}{
		{"env-edited", func(t *testing.T, e *env, id string) (bool, string) {
			ctx := e.c.ns(t.Context())
			cs := e.c.client.ContainerService()
			info, err := cs.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var s specs.Spec
			if err := json.Unmarshal(info.Spec.GetValue(), &s); err != nil {
				t.Fatal(err)
			}
			s.Process.Env = append(s.Process.Env, "EDITED=by-hand")
			any, err := typeurl.MarshalAny(&s)
			if err != nil {
				t.Fatal(err)
			}
			info.Spec = any
			if _, err := cs.Update(ctx, info, "spec"); err != nil {
				t.Fatal(err)
			}
			return true, status.StateRunning
		}},
		{"hash-label-edited", func(t *testing.T, e *env, id string) (bool, string) {
			e.setLabels(t, id, map[string]string{LabelSpecHash: "sha256:0000000000000000"})
			return true, status.StateRunning
		}},
		{"workload-label-edited", func(t *testing.T, e *env, id string) (bool, string) {
			e.setLabels(t, id, map[string]string{LabelWorkload: "someone-else"})
			return false, ""
		}},
		{"task-deleted", func(t *testing.T, e *env, id string) (bool, string) {
			e.deleteTask(t, id)
			return true, status.StateCreated
		}},
		{"container-deleted", func(t *testing.T, e *env, id string) (bool, string) {
			ctr := e.deleteTask(t, id)
			if err := ctr.Delete(e.c.ns(t.Context()), containerd.WithSnapshotCleanup); err != nil {
				t.Fatal(err)
			}
			return false, ""
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port := porttest.Port(t)
			d := desired("drift-"+c.name, port, map[string]string{"SPEC_ENV": "v"})
			e.run(t, d, "rev1")
			before := e.only2(t, d.Name)

			listed, state := c.edit(t, e, before.ID)
			var got *status.Instance
			for _, in := range e.list(t) {
				if in.Workload == d.Name {
					got = &in
				}
			}
			switch {
			case !listed && got != nil:
				t.Fatalf("List after the edit: %+v, want the workload missing", *got)
			case listed && got == nil:
				t.Fatal("List after the edit: workload missing")
			case listed && got.SpecHash == d.Hash && got.State == status.StateRunning:
				t.Fatalf("List after the edit: %+v, want drift (another hash, or not running)", *got)
			case listed && got.State != state:
				t.Errorf("List after the edit: state %s, want %s", got.State, state)
			}

			e.run(t, d, "rev1")
			after := e.only(t, d)
			if after.State != status.StateRunning || after.PID == before.PID {
				t.Errorf("after Run: %+v, want a new running task (old PID %d)", after, before.PID)
			}
			if _, body := get(t, port, "/env"); strings.Contains(body, "EDITED") || !strings.Contains(body, "SPEC_ENV=v") {
				t.Errorf("env after repair:\n%s", body)
			}
			if err := e.c.Remove(t.Context(), d.Name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A container the agent does not own that holds the ID a workload needs is
// never stopped nor deleted: Run refuses that workload, naming the
// container, and the other workloads go on.
func TestForeignContainerLeftAlone(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	d := desired("clash", port, map[string]string{"WHO": "gitfleet"})
	e.run(t, d, "rev1")
	before := e.only(t, d)
	// Someone takes the container over: it no longer carries the
	// ownership label, and its spec is stale for the agent.
	e.setLabels(t, before.ID, map[string]string{LabelManaged: ""})
	if ins := e.list(t); len(ins) != 0 {
		t.Fatalf("List after the ownership label was removed = %+v, want nothing", ins)
	}

	err := e.c.Run(t.Context(), d, "rev1")
	var clash *ClashError
	if !errors.As(err, &clash) || clash.Container != before.ID || !strings.Contains(err.Error(), "clash") || !strings.Contains(err.Error(), before.ID) {
		t.Fatalf("Run with the ID held by a foreign container: %v, want a *ClashError naming %s", err, before.ID)
	}
	if fault.ClassOf(err) != fault.Refused {
		t.Errorf("class %v, want refused", fault.ClassOf(err))
	}
	ctx := e.c.ns(t.Context())
	ctr, err := e.c.client.LoadContainer(ctx, before.ID)
	if err != nil {
		t.Fatalf("foreign container gone: %v", err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatalf("foreign container's task gone: %v", err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running || task.Pid() != before.PID {
		t.Errorf("foreign container after Run: %v %v pid %d, want running as pid %d", st.Status, err, task.Pid(), before.PID)
	}
	if _, body := get(t, port, "/env"); !strings.Contains(body, "WHO=gitfleet") {
		t.Errorf("foreign container stopped serving:\n%s", body)
	}

	// Another workload is not held up by the clash.
	other := desired("other", porttest.Port(t), nil)
	e.run(t, other, "rev1")
	e.only(t, other)
	if err := e.c.Remove(t.Context(), "clash"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.client.LoadContainer(ctx, before.ID); err != nil {
		t.Errorf("Remove of the workload deleted the foreign container: %v", err)
	}
	// Clean up by hand, as its owner would.
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
		t.Fatal(err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		t.Fatal(err)
	}
}

// deleteTask deletes the task of container id by hand, killing its
// process, as someone at the node might; it returns the container.
func (e *env) deleteTask(t *testing.T, id string) containerd.Container {
	t.Helper()
	ctx := e.c.ns(t.Context())
	ctr, err := e.c.client.LoadContainer(ctx, id)
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
	return ctr
}

func (e *env) setLabels(t *testing.T, id string, labels map[string]string) {
	t.Helper()
	ctx := e.c.ns(t.Context())
	ctr, err := e.c.client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctr.SetLabels(ctx, labels); err != nil {
		t.Fatal(err)
	}
}
