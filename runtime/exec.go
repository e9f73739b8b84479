package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"

	"github.com/gitfleet/gitfleet/fault"
)

// execOutputMax bounds the output of an exec'd command that Exec keeps for
// its error message (the start of it: where a check says what failed).
const execOutputMax = 200

// execCleanup bounds the cleanup of an exec'd process after its caller's
// context ended.
const execCleanup = 5 * time.Second

// execServingCheck bounds the check, after an exec failed, of whether
// containerd is serving at all.
const execServingCheck = 2 * time.Second

// ExitError is the error of a command run by Exec that exited with a
// status other than 0. Output is the start of what it printed, on one line.
type ExitError struct {
	Code   int
	Output string
}

func (e *ExitError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return fmt.Sprintf("exit code %d: %s", e.Code, e.Output)
}

// Exec runs cmd inside the workload's running container (its newest one,
// when an update runs two) and returns its exit code. A command still
// running after timeout is killed; Exec then returns an error. The exec'd
// process is always deleted, so no exec state lingers in the shim.
func (c *Containerd) Exec(ctx context.Context, workload string, cmd []string, timeout time.Duration) (int, error) {
	return c.ExecIn(ctx, workload, "", cmd, timeout)
}

// ExecIn is Exec in the workload's container of spec hash hash; "" means
// its newest running container. Health probes use it to probe the new
// container while the old one still serves.
func (c *Containerd) ExecIn(ctx context.Context, workload, hash string, cmd []string, timeout time.Duration) (int, error) {
	if len(cmd) == 0 {
		return -1, fmt.Errorf("exec in %s: empty command", workload)
	}
	if err := checkWorkload(workload); err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	ctx = c.ns(ctx)
	task, err := c.runningTask(ctx, workload, hash)
	if err != nil {
		return -1, c.execFault(ctx, fmt.Errorf("exec in %s: %w", workload, err))
	}
	code, out, err := c.exec(ctx, task, cmd, timeout)
	if err != nil {
		return -1, c.execFault(ctx, fmt.Errorf("exec %q in %s: %w", cmd, workload, err))
	}
	if code != 0 {
		return code, &ExitError{Code: code, Output: out}
	}
	return 0, nil
}

// runningTask returns the running task of the workload's container of
// hash, or of its most recently started one when hash is "".
func (c *Containerd) runningTask(ctx context.Context, workload, hash string) (containerd.Task, error) {
	ctrs, err := c.containersOf(ctx, workload)
	if err != nil {
		return nil, err
	}
	var best containerd.Task
	var bestStart string
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if err != nil {
			continue
		}
		if hash != "" && labels[LabelSpecHash] != hash {
			continue
		}
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		st, err := task.Status(ctx)
		if err != nil || st.Status != containerd.Running {
			continue
		}
		if best == nil || labels[LabelStartedAt] > bestStart {
			best, bestStart = task, labels[LabelStartedAt]
		}
	}
	if best == nil {
		if hash != "" {
			return nil, fmt.Errorf("no running container of spec %s: %w", hash, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("no running container: %w", errdefs.ErrNotFound)
	}
	return best, nil
}

// exec runs cmd in task with the container's process settings (user, env,
// cwd) and returns its exit code and the end of its output.
func (c *Containerd) exec(ctx context.Context, task containerd.Task, cmd []string, timeout time.Duration) (int, string, error) {
	ctr, err := c.client.LoadContainer(ctx, task.ID())
	if err != nil {
		return -1, "", err
	}
	s, err := ctr.Spec(ctx)
	if err != nil {
		return -1, "", err
	}
	if s.Process == nil {
		return -1, "", errors.New("container spec has no process")
	}
	pspec := *s.Process
	pspec.Args = cmd
	pspec.Terminal = false

	execID, err := newExecID()
	if err != nil {
		return -1, "", err
	}
	out := &headBuffer{max: execOutputMax}
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return -1, "", fmt.Errorf("create exec: %w", err)
	}
	// The process must go whatever happens to ctx.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), execCleanup)
		defer cancel()
		if _, err := proc.Delete(dctx, containerd.WithProcessKill); ignoreNotFound(err) != nil {
			c.log.WarnContext(ctx, "delete exec process", logKeyContainer, task.ID(), logKeyError, err)
			if pio := proc.IO(); pio != nil {
				pio.Cancel()
				_ = pio.Close()
			}
		}
	}()
	exited, err := proc.Wait(ctx)
	if err != nil {
		return -1, "", fmt.Errorf("wait exec: %w", err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, "", fmt.Errorf("start exec: %w", err)
	}
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case st := <-exited:
		code, _, err := st.Result()
		if err != nil {
			return -1, "", err
		}
		// Wait for the output copy to finish before reading it.
		if pio := proc.IO(); pio != nil {
			pio.Wait()
		}
		return int(code), out.String(), nil
	case <-timer:
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return -1, "", fmt.Errorf("timed out after %s", timeout)
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return -1, "", ctx.Err()
	}
}

// newExecID returns a unique exec ID (a valid containerd identifier).
func newExecID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "gitfleet-exec-" + hex.EncodeToString(b[:]), nil
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// String returns the output on one line: its lines joined by " | ".
func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(h.b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " | ")
}

// execFault marks err transient (fault.Transient) when containerd itself
// is not serving: the command could not run, which says nothing of the
// workload, and a health verdict must not turn on it.
func (c *Containerd) execFault(ctx context.Context, err error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), execServingCheck)
	defer cancel()
	if ok, serr := c.client.IsServing(sctx); serr != nil || !ok {
		return fault.Retry("containerd", err)
	}
	return err
}
