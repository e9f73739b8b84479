package rollout

import (
	"fmt"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// Deferred decides whether a pending update of a workload waits for its
// update lock: the lock file exists (lockExists, as the caller found it on
// the host) and the update has been pending, since pendingSince, for less
// than lock.MaxDeferral. A zero pendingSince means the update became
// pending now. reason says why, for the status report; it is empty when
// there is no lock file.
func Deferred(lock spec.UpdateLock, lockExists bool, pendingSince, now time.Time) (deferred bool, reason string) {
	if !lockExists || lock.Path == "" {
		return false, ""
	}
	if pendingSince.IsZero() || pendingSince.After(now) {
		pendingSince = now
	}
	waited, limit := now.Sub(pendingSince), lock.MaxDeferral.Duration
	if waited >= limit {
		return false, fmt.Sprintf("update lock %s held for %s, the maxDeferral: updating anyway", lock.Path, formatDuration(waited))
	}
	return true, fmt.Sprintf("update deferred by lock %s for %s so far, at most %s more (maxDeferral %s)",
		lock.Path, formatDuration(waited), formatDuration(limit-waited), formatDuration(limit))
}
