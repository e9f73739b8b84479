package runtime

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
)

// killWait bounds the wait for a task to exit after SIGKILL.
const killWait = 10 * time.Second

// Remove stops and deletes every container of the workload: its stop
// signal (spec.stopSignal, default SIGTERM), up to its stop timeout
// (spec.stopTimeout, default Config.StopTimeout) for it to exit, then
// SIGKILL; then its task, container and snapshot are deleted. A workload with no container is removed already.
func (c *Containerd) Remove(ctx context.Context, workload string) error {
	if err := checkWorkload(workload); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	ctx = c.ns(ctx)
	ctrs, err := c.containersOf(ctx, workload)
	if err != nil {
		return fmt.Errorf("remove %s: %w", workload, err)
	}
	return c.removeAll(ctx, workload, ctrs)
}

// Retire removes every container of workload but the one of spec hash
// keep: the old version, once the new one is healthy. Nothing to retire is
// success.
func (c *Containerd) Retire(ctx context.Context, workload, keep string) error {
	if _, err := containerID(workload, keep); err != nil {
		return fmt.Errorf("retire: %w", err)
	}
	ctx = c.ns(ctx)
	have, err := c.containersOf(ctx, workload)
	if err != nil {
		return fmt.Errorf("retire %s: %w", workload, err)
	}
	var old []containerd.Container
	for _, ctr := range have {
		h, err := hashOf(ctx, ctr)
		if err != nil {
			return fmt.Errorf("retire %s: %w", workload, err)
		}
		if h != keep {
			old = append(old, ctr)
		}
	}
	return c.removeAll(ctx, workload, old)
}

// removeAll removes ctrs, all of workload.
func (c *Containerd) removeAll(ctx context.Context, workload string, ctrs []containerd.Container) error {
	var errs []error
	for _, ctr := range ctrs {
		if err := c.remove(ctx, ctr); err != nil {
			errs = append(errs, err)
			continue
		}
		c.log.InfoContext(ctx, "removed container", logKeyWorkload, workload, logKeyContainer, ctr.ID())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove %s: %w", workload, err)
	}
	return nil
}

// remove stops ctr's task and deletes it, the container and its snapshot.
// When it fails the container stays, and so do its exits the Supervisor's
// to judge: the mark that the agent itself is stopping it is taken off,
// or a task started meanwhile (the Supervisor's restart, racing a pass
// that found the container without a task) would never be restarted.
// A restart under way is awaited (ctrLocks): one that set the network up
// after the teardown below, the container deleted, would leave it behind.
func (c *Containerd) remove(ctx context.Context, ctr containerd.Container) (err error) {
	defer c.ctrLocks.lock(ctr.ID())()
	defer func() {
		if err != nil {
			c.setStopping(ctr.ID(), false)
		}
	}()
	if err := c.stopTask(ctx, ctr); err != nil {
		return err
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); ignoreNotFound(err) != nil {
		return fmt.Errorf("delete container %s: %w", ctr.ID(), err)
	}
	if err := c.unstageMounts(ctr.ID()); err != nil {
		return err
	}
	c.setStopping(ctr.ID(), false)
	if s := c.sup.Load(); s != nil {
		s.forget(ctr.ID())
	}
	return c.removeSecrets(ctr.ID())
}

// setStopping records whether the agent itself is stopping the container's
// task, so that the Supervisor leaves its exit alone.
func (c *Containerd) setStopping(id string, v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v {
		c.stopping[id] = true
	} else {
		delete(c.stopping, id)
	}
}

// isStopping reports whether the agent itself is stopping the container.
func (c *Containerd) isStopping(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping[id]
}

// stopTask stops ctr's task, if any, and deletes it (which also ends its
// shim), then undoes its isolated network, so that its ports are no longer
// mapped to it. The container stays.
func (c *Containerd) stopTask(ctx context.Context, ctr containerd.Container) error {
	if err := c.stopProcess(ctx, ctr); err != nil {
		return err
	}
	return c.teardownNetwork(ctx, ctr.ID())
}

// stopProcess stops and deletes ctr's task, if any.
func (c *Containerd) stopProcess(ctx context.Context, ctr containerd.Container) error {
	c.setStopping(ctr.ID(), true)
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		if ignoreNotFound(err) == nil {
			return nil
		}
		return fmt.Errorf("container %s: task: %w", ctr.ID(), err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		if ignoreNotFound(err) == nil {
			return nil
		}
		return fmt.Errorf("container %s: task status: %w", ctr.ID(), err)
	}
	if st.Status != containerd.Stopped {
		if st.Status == containerd.Paused || st.Status == containerd.Pausing {
			_ = task.Resume(ctx)
		}
		labels, _ := ctr.Labels(ctx) // unreadable: the defaults
		sig, timeout := c.stopPolicy(labels)
		if err := c.kill(ctx, task, sig, timeout); err != nil {
			return fmt.Errorf("stop %s: %w", ctr.ID(), err)
		}
	}
	if _, err := task.Delete(ctx); ignoreNotFound(err) != nil {
		return fmt.Errorf("delete task %s: %w", ctr.ID(), err)
	}
	return nil
}

// kill sends sig, then SIGKILL after timeout, and waits for the exit.
func (c *Containerd) kill(ctx context.Context, task containerd.Task, sig syscall.Signal, timeout time.Duration) error {
	exited, err := task.Wait(ctx)
	if err != nil {
		return ignoreNotFound(err)
	}
	if err := task.Kill(ctx, sig); ignoreNotFound(err) != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case st := <-exited:
		// A wait that ended because containerd went away is no exit.
		return st.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); ignoreNotFound(err) != nil {
		return err
	}
	select {
	case st := <-exited:
		return st.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(killWait):
		return fmt.Errorf("task %s still running %s after SIGKILL", task.ID(), killWait)
	}
}
