package runtime

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/events"
	"github.com/containerd/typeurl/v2"
)

// resubscribeMax bounds the wait between attempts to follow containerd's
// events again after the stream broke.
const resubscribeMax = 30 * time.Second

// containerdBackend is the Supervisor's backend on a Containerd.
type containerdBackend struct{ c *Containerd }

// watch follows /tasks/exit in the agent's namespace. Exits of exec'd
// processes (health probes) are dropped. After each (re)subscription it
// asks for a re-list: exits may have been missed meanwhile.
func (b *containerdBackend) watch(ctx context.Context, evs chan<- exitEvent) {
	c := b.c
	filter := fmt.Sprintf(`topic=="/tasks/exit",namespace==%q`, c.cfg.Namespace)
	wait := time.Second
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		ch, errs := c.client.Subscribe(sctx, filter)
		select {
		case evs <- exitEvent{}:
		case <-ctx.Done():
		}
		subscribed := time.Now()
		err := b.follow(ctx, ch, errs, evs)
		cancel()
		if ctx.Err() != nil {
			return
		}
		// A stream that held longer than the longest wait was a healthy
		// one: the next outage starts over at a second, so a task that
		// dies after it is restarted promptly.
		if time.Since(subscribed) > resubscribeMax {
			wait = time.Second
		}
		c.log.WarnContext(ctx, "supervisor: event stream broke, re-subscribing", logKeyError, err, logKeyDelay, wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		wait = min(2*wait, resubscribeMax)
	}
}

// follow forwards exits until the stream breaks or ctx ends.
func (b *containerdBackend) follow(ctx context.Context, ch <-chan *events.Envelope, errs <-chan error, evs chan<- exitEvent) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			if err == nil {
				err = fmt.Errorf("event stream closed")
			}
			return err
		case env, ok := <-ch:
			if !ok {
				return fmt.Errorf("event stream closed")
			}
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			e, ok := v.(*apievents.TaskExit)
			if !ok || e.ID != e.ContainerID {
				continue // an exec'd process
			}
			ev := exitEvent{container: e.ContainerID, pid: e.Pid, code: int(e.ExitStatus)}
			if e.ExitedAt != nil {
				ev.at = e.ExitedAt.AsTime()
			}
			select {
			case evs <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

func (b *containerdBackend) view(ctx context.Context, id string) (ctrView, error) {
	c := b.c
	ctx = c.ns(ctx)
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return ctrView{}, err
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return ctrView{}, err
	}
	v := viewOf(labels)
	v.ignore = labels[LabelManaged] != "true" || c.isStopping(id)
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return v, nil
	}
	if err != nil {
		return ctrView{}, err
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return v, nil
	}
	if err != nil {
		return ctrView{}, err
	}
	v.active = st.Status != containerd.Stopped
	v.pid = task.Pid()
	return v, nil
}

// viewOf reads the Supervisor's labels.
func viewOf(labels map[string]string) ctrView {
	v := ctrView{workload: labels[LabelWorkload], policy: labels[LabelRestart]}
	v.startedAt, _ = time.Parse(time.RFC3339Nano, labels[LabelStartedAt])
	v.restarts, _ = strconv.Atoi(labels[LabelRestarts])
	v.exits = parseExits(labels[LabelExits])
	return v
}

func (b *containerdBackend) stopped(ctx context.Context) ([]exitEvent, map[string]ctrView, error) {
	c := b.c
	ctx = c.ns(ctx)
	ctrs, err := c.client.Containers(ctx, managedFilter)
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	all := make(map[string]ctrView, len(ctrs))
	var out []exitEvent
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
		if err != nil {
			continue
		}
		all[ctr.ID()] = viewOf(info.Labels)
		if info.Labels[LabelStartedAt] == "" || c.isStopping(ctr.ID()) {
			continue // not started by Run yet, or being stopped by the agent
		}
		task, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			out = append(out, exitEvent{container: ctr.ID(), code: ExitGone})
			continue
		}
		if err != nil {
			continue
		}
		st, err := task.Status(ctx)
		if err != nil || st.Status != containerd.Stopped {
			continue
		}
		out = append(out, exitEvent{container: ctr.ID(), code: int(st.ExitStatus), at: st.ExitTime})
	}
	return out, all, nil
}

func (b *containerdBackend) restart(ctx context.Context, id string, restarts int, exits []exitRecord) (bool, time.Time, error) {
	c := b.c
	ctx = c.ns(ctx)
	// Not while remove deletes the container: see remove.
	defer c.ctrLocks.lock(id)()
	if c.isStopping(id) {
		return false, time.Time{}, nil
	}
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return false, time.Time{}, err
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return false, time.Time{}, err
	}
	if c.restartLoaded != nil {
		c.restartLoaded(id)
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		st, err := task.Status(ctx)
		if err == nil && st.Status != containerd.Stopped {
			return false, time.Time{}, nil // someone started it already
		}
		if _, err := task.Delete(ctx); ignoreNotFound(err) != nil {
			return false, time.Time{}, fmt.Errorf("delete task %s: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return false, time.Time{}, fmt.Errorf("container %s: task: %w", id, err)
	}
	task, err := c.newTask(ctx, ctr, labels)
	if err != nil {
		return false, time.Time{}, err
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx)
		return false, time.Time{}, fmt.Errorf("start task %s: %w", id, err)
	}
	now := time.Now().UTC()
	if _, err := ctr.SetLabels(ctx, map[string]string{
		LabelStartedAt: now.Format(time.RFC3339Nano),
		LabelRestarts:  strconv.Itoa(restarts),
		LabelExits:     formatExits(exits),
	}); err != nil {
		return true, now, fmt.Errorf("container %s: labels: %w", id, err)
	}
	return true, now, nil
}

// formatExits writes exits as LabelExits: "<code>@<unix ms>,…".
func formatExits(exits []exitRecord) string {
	s := make([]string, len(exits))
	for i, e := range exits {
		s[i] = strconv.Itoa(e.code) + "@" + strconv.FormatInt(e.at.UnixMilli(), 10)
	}
	return strings.Join(s, ",")
}

// parseExits reads LabelExits, skipping what it cannot read.
func parseExits(v string) []exitRecord {
	if v == "" {
		return nil
	}
	var out []exitRecord
	for _, f := range strings.Split(v, ",") {
		code, ms, ok := strings.Cut(f, "@")
		c, err1 := strconv.Atoi(code)
		t, err2 := strconv.ParseInt(ms, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, exitRecord{code: c, at: time.UnixMilli(t)})
	}
	return out
}
