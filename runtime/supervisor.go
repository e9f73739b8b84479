package runtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/containerd/containerd/errdefs"
)

// Supervisor restarts the agent's tasks when they exit, by each
// container's restart policy (LabelRestart), with exponential backoff. It
// follows containerd's /tasks/exit events and re-lists every Relist as a
// safety net. The agent's own stops (Run, Remove) are left alone.
type Supervisor struct {
	cfg SupervisorConfig
	b   backend
	log *slog.Logger
	due chan string

	mu   sync.Mutex
	byID map[string]*tracked
}

// tracked is the Supervisor's state of one container.
type tracked struct {
	workload, policy string
	restarts         int
	exits            []exitRecord
	quick            int // consecutive exits that came sooner than BackoffReset after a start
	startedAt        time.Time
	next             time.Time
	delay            time.Duration // of the pending restart
	timer            *time.Timer
	stopped          bool
}

// exitRecord is one exit of a task.
type exitRecord struct {
	code int
	at   time.Time
}

// exitEvent says a container's task exited. An empty container asks for a
// re-list (the event stream was re-established).
type exitEvent struct {
	container string
	pid       uint32 // 0 when unknown (found by a re-list)
	code      int
	at        time.Time // zero when unknown
}

// ctrView is what the Supervisor needs to know of a container now.
type ctrView struct {
	workload, policy string
	// active: its task runs (or is being created or started), with pid.
	active    bool
	pid       uint32
	startedAt time.Time
	restarts  int
	exits     []exitRecord
	// ignore: not the Supervisor's to restart (the agent is stopping it,
	// or it is not managed).
	ignore bool
}

// backend is the Supervisor's access to containerd; tests fake it.
type backend interface {
	// watch sends task exits to evs until ctx ends, and an empty event each
	// time the stream is (re)established.
	watch(ctx context.Context, evs chan<- exitEvent)
	// view describes a container; errdefs.ErrNotFound when it is gone.
	view(ctx context.Context, id string) (ctrView, error)
	// stopped returns an exit event for each started container whose task
	// is stopped or gone, and the labels' view (no task state) of all the
	// agent's containers, by ID.
	stopped(ctx context.Context) ([]exitEvent, map[string]ctrView, error)
	// restart starts a new task for the container unless one is active and
	// records restarts and exits in its labels. It returns whether it
	// started one, and when.
	restart(ctx context.Context, id string, restarts int, exits []exitRecord) (bool, time.Time, error)
}

// NewSupervisor returns a Supervisor of c's containers. Run starts it.
func NewSupervisor(c *Containerd, cfg SupervisorConfig) (*Supervisor, error) {
	s, err := newSupervisor(&containerdBackend{c: c}, cfg, c.log)
	if err != nil {
		return nil, err
	}
	c.sup.Store(s)
	return s, nil
}

func newSupervisor(b backend, cfg SupervisorConfig, log *slog.Logger) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{cfg: cfg.withDefaults(), b: b, log: log, due: make(chan string), byID: map[string]*tracked{}}, nil
}

// Run supervises until ctx ends. It re-lists at once, which restarts what
// exited while the agent was down.
func (s *Supervisor) Run(ctx context.Context) error {
	evs := make(chan exitEvent, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.b.watch(ctx, evs)
	}()
	s.loop(ctx, evs)
	wg.Wait()
	return nil
}

// loop handles exits, due restarts and re-lists until ctx ends.
func (s *Supervisor) loop(ctx context.Context, evs <-chan exitEvent) {
	relist := time.NewTicker(s.cfg.Relist)
	defer relist.Stop()
	defer s.stopTimers()
	s.relist(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-evs:
			if ev.container == "" {
				s.relist(ctx)
			} else {
				s.exited(ctx, ev)
			}
		case id := <-s.due:
			s.restartDue(ctx, id)
		case <-relist.C:
			s.relist(ctx)
		}
	}
}

// relist treats every stopped task it finds and does not know of yet as an
// exit, and forgets containers that are gone.
func (s *Supervisor) relist(ctx context.Context) {
	exits, all, err := s.b.stopped(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "supervisor: re-list", logKeyError, err)
		}
		return
	}
	now := time.Now()
	s.mu.Lock()
	for id, t := range s.byID {
		if _, ok := all[id]; !ok {
			t.stopTimer()
			delete(s.byID, id)
		}
	}
	// Restarts an earlier agent made show at once, not at the next exit.
	for id, v := range all {
		if _, ok := s.byID[id]; !ok && (v.restarts > 0 || len(v.exits) > 0) {
			s.track(id, v, now)
		}
	}
	s.mu.Unlock()
	for _, ev := range exits {
		s.mu.Lock()
		t := s.byID[ev.container]
		known := t != nil && (t.timer != nil || t.stopped)
		s.mu.Unlock()
		if !known {
			s.exited(ctx, ev)
		}
	}
}

// exited handles a task's exit: it records it and, if the policy says so,
// schedules a restart after the backoff delay.
func (s *Supervisor) exited(ctx context.Context, ev exitEvent) {
	v, err := s.b.view(ctx, ev.container)
	if errdefs.IsNotFound(err) {
		s.forget(ev.container)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "supervisor: exit", logKeyContainer, ev.container, logKeyError, err)
		}
		return // the next re-list tries again
	}
	if v.ignore || (v.active && (ev.pid == 0 || v.pid != ev.pid)) {
		return // the agent's own stop, or a stale event: a new task runs
	}
	now := time.Now()
	if ev.at.IsZero() {
		ev.at = now
	}
	s.mu.Lock()
	t := s.track(ev.container, v, now)
	if t.timer != nil {
		s.mu.Unlock()
		return // already scheduled
	}
	if !t.startedAt.IsZero() && ev.at.Sub(t.startedAt) >= s.cfg.BackoffReset {
		t.quick = 0
	}
	t.exits = append(t.exits, exitRecord{code: ev.code, at: ev.at})
	if len(t.exits) > exitHistory {
		t.exits = t.exits[len(t.exits)-exitHistory:]
	}
	restart := shouldRestart(t.policy, ev.code)
	var delay time.Duration
	if restart {
		t.quick++
		delay = backoff(s.cfg.BackoffBase, s.cfg.BackoffCap, t.quick)
		s.schedule(ctx, ev.container, t, delay)
	} else {
		t.stopped = true
	}
	workload, loop := t.workload, s.crashLoop(t, now)
	s.mu.Unlock()

	if restart {
		s.log.InfoContext(ctx, "task exited, restarting", logKeyWorkload, workload, logKeyContainer, ev.container,
			logKeyExitCode, ev.code, logKeyDelay, delay, "crash_loop", loop)
	} else {
		s.log.InfoContext(ctx, "task exited, not restarting", logKeyWorkload, workload, logKeyContainer, ev.container,
			logKeyExitCode, ev.code, "policy", v.policy)
	}
	s.changed(workload)
}

// track returns the container's state, creating it from v (the labels
// persisted by an earlier agent) if new. s.mu is held.
func (s *Supervisor) track(id string, v ctrView, now time.Time) *tracked {
	if t, ok := s.byID[id]; ok {
		return t
	}
	t := &tracked{workload: v.workload, policy: v.policy, restarts: v.restarts,
		exits: v.exits, startedAt: v.startedAt}
	// Resume the backoff where an earlier agent left it.
	for _, e := range v.exits {
		if now.Sub(e.at) < s.cfg.BackoffReset {
			t.quick++
		}
	}
	s.byID[id] = t
	return t
}

// schedule restarts the container after delay. s.mu is held.
func (s *Supervisor) schedule(ctx context.Context, id string, t *tracked, delay time.Duration) {
	t.next, t.delay = time.Now().Add(delay), delay
	t.timer = time.AfterFunc(delay, func() {
		select {
		case s.due <- id:
		case <-ctx.Done():
		}
	})
}

// restartDue restarts a container whose backoff has passed.
func (s *Supervisor) restartDue(ctx context.Context, id string) {
	s.mu.Lock()
	t, ok := s.byID[id]
	if !ok || t.timer == nil {
		s.mu.Unlock()
		return // forgotten meanwhile
	}
	t.timer, t.next, t.delay = nil, time.Time{}, 0
	restarts, exits := t.restarts+1, append([]exitRecord(nil), t.exits...)
	s.mu.Unlock()

	started, at, err := s.b.restart(ctx, id, restarts, exits)
	if errdefs.IsNotFound(err) {
		s.forget(id)
		return
	}
	s.mu.Lock()
	t, ok = s.byID[id]
	if !ok {
		s.mu.Unlock()
		return
	}
	workload := t.workload
	if err != nil {
		t.quick++
		delay := backoff(s.cfg.BackoffBase, s.cfg.BackoffCap, t.quick)
		s.schedule(ctx, id, t, delay)
		s.mu.Unlock()
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "restart failed", logKeyWorkload, workload, logKeyContainer, id, logKeyError, err, logKeyDelay, delay)
		}
		return
	}
	if started {
		t.restarts, t.startedAt = restarts, at
	}
	t.stopped = false
	s.mu.Unlock()
	if started {
		s.log.InfoContext(ctx, "restarted task", logKeyWorkload, workload, logKeyContainer, id, logKeyRestarts, restarts)
		s.changed(workload)
	}
}

// forget drops a container's state and its pending restart. Remove calls
// it for the containers it deletes.
func (s *Supervisor) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.byID[id]; ok {
		t.stopTimer()
		delete(s.byID, id)
	}
}

func (s *Supervisor) stopTimers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.byID {
		t.stopTimer()
	}
}

func (t *tracked) stopTimer() {
	if t.timer != nil {
		t.timer.Stop()
		t.timer, t.next, t.delay = nil, time.Time{}, 0
	}
}

func (s *Supervisor) changed(workload string) {
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(workload)
	}
}

// crashLoop reports whether t exited CrashLoopRestarts times within
// CrashLoopWindow before now. s.mu is held.
func (s *Supervisor) crashLoop(t *tracked, now time.Time) bool {
	n := 0
	for _, e := range t.exits {
		if now.Sub(e.at) <= s.cfg.CrashLoopWindow {
			n++
		}
	}
	return n >= s.cfg.CrashLoopRestarts
}
