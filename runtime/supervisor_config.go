package runtime

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of SupervisorConfig.
const (
	DefaultBackoffBase       = time.Second
	DefaultBackoffCap        = 5 * time.Minute
	DefaultBackoffReset      = 10 * time.Minute
	DefaultRelist            = 30 * time.Second
	DefaultCrashLoopRestarts = 5
	DefaultCrashLoopWindow   = 10 * time.Minute
)

// exitHistory is how many exits a container's LabelExits keeps.
const exitHistory = 10

// ExitGone is the exit code recorded for a task that disappeared without
// an exit status (deleted by hand).
const ExitGone = -1

// SupervisorConfig configures the Supervisor. Zero fields get defaults.
type SupervisorConfig struct {
	// BackoffBase is the delay before the first restart after a crash; it
	// doubles with each further crash. Default 1s.
	BackoffBase time.Duration
	// BackoffCap bounds the delay. Default 5m.
	BackoffCap time.Duration
	// BackoffReset: a task that ran at least this long before it exited
	// starts the backoff over. Default 10m.
	BackoffReset time.Duration
	// Relist is how often every container is checked for a stopped task,
	// in case an exit event was missed (agent or containerd down). Default
	// 30s.
	Relist time.Duration
	// CrashLoopRestarts exits within CrashLoopWindow make a crash loop.
	// Defaults 5 and 10m.
	CrashLoopRestarts int
	CrashLoopWindow   time.Duration
	// OnChange, if set, is called (never under a lock, from the
	// supervisor's goroutine) after a workload's task exited, was
	// restarted or entered a crash loop, so the agent can report it at
	// once or roll back.
	OnChange func(workload string)
}

// Validate reports whether c is usable once the defaults are filled in.
func (c *SupervisorConfig) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{"BackoffBase": c.BackoffBase, "BackoffCap": c.BackoffCap,
		"BackoffReset": c.BackoffReset, "Relist": c.Relist, "CrashLoopWindow": c.CrashLoopWindow} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("runtime: %s must not be negative", name))
		}
	}
	if c.CrashLoopRestarts < 0 {
		errs = append(errs, errors.New("runtime: CrashLoopRestarts must not be negative"))
	}
	if c.BackoffCap > 0 && c.BackoffBase > c.BackoffCap {
		errs = append(errs, errors.New("runtime: BackoffBase must not exceed BackoffCap"))
	}
	return errors.Join(errs...)
}

func (c SupervisorConfig) withDefaults() SupervisorConfig {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.BackoffBase, DefaultBackoffBase)
	set(&c.BackoffCap, DefaultBackoffCap)
	set(&c.BackoffReset, DefaultBackoffReset)
	set(&c.Relist, DefaultRelist)
	set(&c.CrashLoopWindow, DefaultCrashLoopWindow)
	if c.CrashLoopRestarts == 0 {
		c.CrashLoopRestarts = DefaultCrashLoopRestarts
	}
	return c
}

// RestartStatus is what the Supervisor knows of a workload's task.
type RestartStatus struct {
	// Container is the container it concerns.
	Container string
	// Policy is the container's restart policy.
	Policy string
	// Restarts counts the restarts the Supervisor made of this container
	// (kept in its labels, so it survives an agent restart).
	Restarts int
	// LastExits are the exit codes of the recent exits, oldest first.
	LastExits []int
	// LastExit is when the task last exited; zero if never seen.
	LastExit time.Time
	// NextRestart is when the task will be restarted, RestartDelay the
	// backoff that set it (after the exit or a failed restart); both zero
	// when no restart is pending.
	NextRestart  time.Time
	RestartDelay time.Duration
	// Stopped is true when the task exited and its policy says it stays
	// stopped (never, or on-failure after exit code 0).
	Stopped bool
	// CrashLoop is true when the task exited CrashLoopRestarts times within
	// CrashLoopWindow: the reconciler should roll the workload back.
	CrashLoop bool
}
