package runtime

import (
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// Status returns what the Supervisor knows of the workload's task: of its
// container that exited or restarted last. ok is false when the workload
// never exited under supervision.
func (s *Supervisor) Status(workload string) (st RestartStatus, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var best *tracked
	var bestID string
	for id, t := range s.byID {
		if t.workload != workload {
			continue
		}
		if best == nil || t.lastActivity().After(best.lastActivity()) {
			best, bestID = t, id
		}
	}
	if best == nil {
		return RestartStatus{}, false
	}
	st = RestartStatus{Container: bestID, Policy: best.policy, Restarts: best.restarts,
		NextRestart: best.next, RestartDelay: best.delay, Stopped: best.stopped, CrashLoop: s.crashLoop(best, now)}
	for _, e := range best.exits {
		st.LastExits = append(st.LastExits, e.code)
	}
	if n := len(best.exits); n > 0 {
		st.LastExit = best.exits[n-1].at
	}
	return st, true
}

func (t *tracked) lastActivity() time.Time {
	last := t.startedAt
	if n := len(t.exits); n > 0 && t.exits[n-1].at.After(last) {
		last = t.exits[n-1].at
	}
	return last
}

// Restarts returns how often the workload's task was restarted and the
// exit codes of its recent exits, oldest first.
func (s *Supervisor) Restarts(workload string) (count int, lastExit []int) {
	st, _ := s.Status(workload)
	return st.Restarts, st.LastExits
}

// CrashLoop reports whether the workload's task crash-loops: it exited
// CrashLoopRestarts times within CrashLoopWindow.
func (s *Supervisor) CrashLoop(workload string) bool {
	st, _ := s.Status(workload)
	return st.CrashLoop
}

// shouldRestart applies a restart policy to an exit code.
func shouldRestart(policy string, code int) bool {
	switch policy {
	case spec.RestartNever:
		return false
	case spec.RestartOnFailure:
		return code != 0
	default: // always, or unset
		return true
	}
}

// backoff is the delay before the restart after the n-th quick exit
// (n ≥ 1): base, 2·base, 4·base, … up to max.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n; i++ {
		d *= 2
		if d >= max || d <= 0 {
			return max
		}
	}
	return min(d, max)
}
