package runtime

import (
	"context"
	"errors"
	"fmt"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"

	"github.com/gitfleet/gitfleet/spec"
)

// newTask creates ctr's task, not yet started. Every task the agent
// creates goes through it (Run, the restarts of Run and of the
// Supervisor), so that each start checks the host again: the mount sources
// are opened anew beneath their allowed roots and staged (mount.go).
// labels are ctr's.
func (c *Containerd) newTask(ctx context.Context, ctr containerd.Container, labels map[string]string) (containerd.Task, error) {
	workload := labels[LabelWorkload]
	refs, err := parseMountsLabel(labels[LabelMounts])
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", ctr.ID(), err)
	}
	if err := c.stageMounts(workload, ctr.ID(), refs); err != nil {
		return nil, err
	}
	if labels[LabelNetwork] == spec.NetworkIsolated {
		if err := c.ensureNetwork(ctx, workload, ctr.ID(), parsePorts(labels[LabelPorts])); err != nil {
			return nil, err
		}
	}
	task, err := ctr.NewTask(ctx, cio.LogFile(c.Logs(workload)))
	if err != nil {
		err = fmt.Errorf("create task %s: %w", ctr.ID(), err)
		if errdefs.IsNotFound(err) && labels[LabelNetwork] == spec.NetworkIsolated {
			// The container was deleted (by hand: the agent's removes
			// await its restarts): nothing else would undo its network.
			err = errors.Join(err, c.teardownNetwork(context.WithoutCancel(ctx), ctr.ID()))
		}
		return nil, err
	}
	return task, nil
}
