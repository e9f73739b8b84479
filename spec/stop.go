package spec

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// How a workload's container is stopped (on a replace, a removal, a
// rollback): its StopSignal, then SIGKILL once StopTimeout has passed.
const (
	DefaultStopSignal  = "SIGTERM"
	DefaultStopTimeout = 10 * time.Second
	// MaxStopTimeout bounds StopTimeout: a replace waits for it.
	MaxStopTimeout = 10 * time.Minute
)

// StopSignals are the signals a workload may name as its StopSignal.
var StopSignals = []string{"SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGKILL"}

// checkStop checks StopSignal and StopTimeout.
func checkStop(rep reporter, p fieldPath, s *WorkloadSpec) {
	if s.StopSignal != "" && !slices.Contains(StopSignals, s.StopSignal) {
		rep(p.key("stopSignal"), fmt.Errorf("must be one of %s, not %q", strings.Join(StopSignals, ", "), s.StopSignal))
	}
	if t := s.StopTimeout; t != nil && (t.Duration <= 0 || t.Duration > MaxStopTimeout) {
		rep(p.key("stopTimeout"), fmt.Errorf("must be more than 0 and at most %s, not %s", MaxStopTimeout, t.Duration))
	}
}

// stopHashed returns the stop settings as HashSpec hashes them: the
// defaults as unset, so that naming them does not replace a container.
func stopHashed(s WorkloadSpec) (string, int64) {
	sig, d := s.StopSignal, time.Duration(0)
	if s.StopTimeout != nil {
		d = s.StopTimeout.Duration
	}
	if sig == DefaultStopSignal {
		sig = ""
	}
	if d == DefaultStopTimeout {
		d = 0
	}
	return sig, int64(d)
}
