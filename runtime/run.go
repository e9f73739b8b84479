package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gitfleet/gitfleet/spec"
)

// cpuPeriod is the CFS period CPU limits are expressed in (100 ms).
const cpuPeriod = 100_000

// Run makes d's container run. When a container of d's spec hash already
// runs it is left alone (an agent that restarts adopts it, same PID); a
// stopped one is deleted and created again. The workload's containers of
// other spec hashes are retired once d's runs.
//
// Order: the new container is created first (snapshot, task, network) so
// the switch is short. An old container whose declared ports overlap the
// new one's is stopped (and its ports unmapped) just before the new task
// starts, since both cannot hold the same host port, and removed once the
// new one has started.
// Every other old container keeps serving until Retire (or a Run of the
// same spec, which retires the others): the caller retires it once the new
// one is healthy. If the new task fails to start, the old containers that
// were stopped are started again and the error returned. The image must
// have been pulled.
func (c *Containerd) Run(ctx context.Context, d spec.Desired, revision string) error {
	id, err := attemptID(d.Name, d.Hash)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	ref, _, err := pinned(d.Spec.Image)
	if err != nil {
		return fmt.Errorf("run %s: %w", d.Name, err)
	}
	ctx = c.ns(ctx)
	have, err := c.containersOf(ctx, d.Name)
	if err != nil {
		return fmt.Errorf("run %s: %w", d.Name, err)
	}
	var running bool
	var old []containerd.Container
	for _, ctr := range have {
		// See recover.go: a container of d's hash that does not run is an
		// interrupted or failed attempt, removed before the next.
		if h, err := hashOf(ctx, ctr); err != nil {
			return fmt.Errorf("run %s: %w", d.Name, err)
		} else if h != d.Hash {
			old = append(old, ctr)
			continue
		}
		if running {
			// A second container of the same hash: keep the running one.
			if err := c.remove(ctx, ctr); err != nil {
				return fmt.Errorf("run %s: %w", d.Name, err)
			}
			continue
		}
		drift, err := c.driftOf(ctx, ctr, d.Hash)
		if err != nil {
			return fmt.Errorf("run %s: %w", d.Name, err)
		}
		if drift == "" {
			if st, err := taskStatus(ctx, ctr); err != nil {
				return fmt.Errorf("run %s: %w", d.Name, err)
			} else if st == containerd.Running {
				running = true
				continue
			}
		} else {
			c.log.WarnContext(ctx, "replacing drifted container", logKeyWorkload, d.Name, logKeyContainer, id, logKeyDrift, drift)
		}
		// Stopped, created but not started, no task, or changed by hand:
		// start afresh.
		if err := c.remove(ctx, ctr); err != nil {
			return fmt.Errorf("run %s: %w", d.Name, err)
		}
	}
	if running {
		return c.removeAll(ctx, d.Name, old)
	}
	// A container of this workload and hash whose labels were edited by
	// hand is not among the workload's containers but would clash with the
	// new one.
	if err := c.removeForeign(ctx, d.Name, d.Hash); err != nil {
		return fmt.Errorf("run %s: %w", d.Name, err)
	}

	start := time.Now()
	ctr, task, err := c.create(ctx, id, ref, d, revision)
	if err != nil {
		return startFault(d.Name, fmt.Errorf("run %s: %w", d.Name, err))
	}
	var stopped []containerd.Container
	for _, o := range old {
		labels, err := o.Labels(ctx)
		if err == nil && portsOverlap(labels, d.Spec.Ports) {
			// Not while the Supervisor restarts it: see remove.
			unlock := c.ctrLocks.lock(o.ID())
			err = c.stopTask(ctx, o)
			unlock()
			stopped = append(stopped, o)
		}
		if ignoreNotFound(err) != nil {
			err = fmt.Errorf("run %s: %w", d.Name, err)
			return errors.Join(err, c.remove(ctx, ctr), c.restart(ctx, d.Name, stopped))
		}
	}
	if err := task.Start(ctx); err != nil {
		err = startFault(d.Name, fmt.Errorf("run %s: start: %w", d.Name, err))
		return errors.Join(err, c.remove(ctx, ctr), c.restart(ctx, d.Name, stopped))
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{LabelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		return fmt.Errorf("run %s: %w", d.Name, err)
	}
	c.log.InfoContext(ctx, "started container", logKeyWorkload, d.Name, logKeyContainer, id,
		logKeyPID, task.Pid(), logKeyDuration, time.Since(start).Round(time.Millisecond))
	return c.removeAll(ctx, d.Name, stopped)
}

// create creates the container and its task, not yet started.
func (c *Containerd) create(ctx context.Context, id, ref string, d spec.Desired, revision string) (containerd.Container, containerd.Task, error) {
	image, err := c.client.GetImage(ctx, ref)
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if ok, err := image.IsUnpacked(ctx, c.cfg.Snapshotter); err != nil || !ok {
		if err := image.Unpack(ctx, c.cfg.Snapshotter); err != nil {
			return nil, nil, fmt.Errorf("unpack %s: %w", ref, err)
		}
	}
	if err := checkSandbox(d); err != nil {
		return nil, nil, err
	}
	refs, err := mountRefs(d.Name, d.Spec.Mounts, d.HostPaths)
	if err != nil {
		return nil, nil, err
	}
	specOpts, err := c.specOpts(image, id, d)
	if err != nil {
		return nil, nil, err
	}
	secrets, err := c.openSecrets(d, id)
	if err != nil {
		return nil, nil, err
	}
	defer secrets.wipe()
	specOpts = append(specOpts, secrets.specOpts()...)
	policy := d.Spec.Restart
	if policy == "" {
		policy = spec.RestartAlways
	}
	labels := map[string]string{
		LabelManaged:  "true",
		LabelWorkload: d.Name,
		LabelSpecHash: d.Hash,
		LabelRevision: revision,
		LabelPorts:    portsLabel(d.Spec.Ports),
		LabelRestart:  policy,
		LabelNetwork:  networkOf(d.Spec),
	}
	if v := mountsLabel(refs); v != "" {
		labels[LabelMounts] = v
	}
	maps.Copy(labels, stopLabels(d.Spec))
	// A snapshot left by an agent that died between creating it and its
	// container would block the new one.
	_ = c.client.SnapshotService(c.cfg.Snapshotter).Remove(ctx, id)
	ctr, err := c.client.NewContainer(ctx, id,
		containerd.WithImage(image),
		containerd.WithSnapshotter(c.cfg.Snapshotter),
		containerd.WithNewSnapshot(id, image),
		containerd.WithRuntime(c.cfg.Runtime, nil),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(labels),
		withOCISpecHash)
	if err != nil {
		return nil, nil, fmt.Errorf("create container %s: %w", id, err)
	}
	if err := c.writeSecrets(ctx, ctr, secrets); err != nil {
		return nil, nil, errors.Join(err, c.remove(ctx, ctr))
	}
	task, err := c.newTask(ctx, ctr, labels)
	if err != nil {
		return nil, nil, errors.Join(err, c.remove(ctx, ctr))
	}
	return ctr, task, nil
}

// specOpts turns a workload spec into OCI spec options: the image's
// entrypoint with the spec's args in place of its CMD, env merged over the
// image's, the sandbox (sandbox.go), bind mounts and resource limits.
func (c *Containerd) specOpts(image containerd.Image, id string, d spec.Desired) ([]oci.SpecOpts, error) {
	ws := d.Spec
	env := make([]string, 0, len(ws.Env))
	for k, v := range ws.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	opts := []oci.SpecOpts{
		oci.WithImageConfigArgs(image, ws.Args),
		oci.WithEnv(env),
	}
	opts = append(opts, c.sandboxOpts(id, d)...)
	if len(ws.Mounts) > 0 {
		mounts := make([]specs.Mount, len(ws.Mounts))
		for i, m := range ws.Mounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			// The source is staged by newTask: see mount.go.
			mounts[i] = specs.Mount{Type: "bind", Source: c.stagePath(id, i), Destination: m.Target,
				Options: []string{"rbind", "rprivate", mode}}
		}
		opts = append(opts, oci.WithMounts(mounts))
	}
	if ws.Resources.Memory != "" {
		b, err := spec.ParseMemory(ws.Resources.Memory)
		if err != nil {
			return nil, fmt.Errorf("resources.memory: %w", err)
		}
		if b > 0 {
			opts = append(opts, oci.WithMemoryLimit(uint64(b)))
		}
	}
	if ws.Resources.CPU != "" {
		m, err := spec.ParseCPU(ws.Resources.CPU)
		if err != nil {
			return nil, fmt.Errorf("resources.cpu: %w", err)
		}
		if m > 0 {
			opts = append(opts, oci.WithCPUCFS(m*cpuPeriod/1000, cpuPeriod))
		}
	}
	gpus, err := c.gpuOpts(d.Name, ws.Resources.GPUs)
	if err != nil {
		return nil, err
	}
	if gpus != nil {
		opts = append(opts, gpus)
	}
	return opts, nil
}

// taskStatus returns the state of ctr's task; Unknown when it has none.
func taskStatus(ctx context.Context, ctr containerd.Container) (containerd.ProcessStatus, error) {
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return containerd.Unknown, nil
	}
	if err != nil {
		return "", fmt.Errorf("container %s: task: %w", ctr.ID(), err)
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return containerd.Unknown, nil
	}
	if err != nil {
		return "", fmt.Errorf("container %s: task status: %w", ctr.ID(), err)
	}
	return st.Status, nil
}

// restart starts new tasks for containers whose tasks stop deleted.
func (c *Containerd) restart(ctx context.Context, workload string, ctrs []containerd.Container) error {
	var errs []error
	for _, ctr := range ctrs {
		var task containerd.Task
		labels, err := ctr.Labels(ctx)
		if err == nil {
			task, err = c.newTask(ctx, ctr, labels)
		}
		if err == nil {
			err = task.Start(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restart %s: %w", ctr.ID(), err))
			continue
		}
		c.setStopping(ctr.ID(), false)
		c.log.InfoContext(ctx, "restarted old container", logKeyWorkload, workload, logKeyContainer, ctr.ID())
	}
	return errors.Join(errs...)
}
