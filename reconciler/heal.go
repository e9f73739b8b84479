package reconciler

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// HealthChecker probes workloads. fleetd adapts the health package to it.
type HealthChecker interface {
	// Watch sets the workloads to probe (the containers now meant to run).
	Watch(desired []spec.Desired)
	// Wait blocks until the workload's container of spec hash hash has a
	// verdict, and reports whether it is healthy.
	Wait(ctx context.Context, name, hash string) (healthy bool, err error)
	// Health returns the current verdict for the status report ("starting",
	// "healthy", "unhealthy") and why.
	Health(name string) (state, message string)
}

// Supervisor restarts exited containers by their restart policy with
// backoff. fleetd adapts the runtime's supervisor to it.
type Supervisor interface {
	// Restarts returns how often the workload was restarted and its recent
	// exit codes, oldest first.
	Restarts(workload string) (count int, lastExits []int)
	// CrashLoop reports whether the workload keeps exiting soon after each
	// restart.
	CrashLoop(workload string) bool
}

// ImageCollector removes images that nothing needs.
type ImageCollector interface {
	GC(ctx context.Context, keep []string) (removed []string, err error)
}

// failure is a workload spec that did not become healthy. The workload
// keeps running its fallback until the spec changes.
type failure struct {
	Hash   string `json:"hash"`
	Image  string `json:"image"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

func (f failure) String(name string) string {
	return fmt.Sprintf("rolled back %s from %s to %s: %s", name, f.Image, f.To, f.Reason)
}

// RollbackError says a new workload version was replaced by its last
// known good version.
type RollbackError struct {
	Workload string
	failure
}

func (e *RollbackError) Error() string { return e.failure.String(e.Workload) }

// effective is what should run: the target's workloads, except that a
// workload whose current spec failed keeps its fallback. A failure is
// forgotten once the spec changes.
func (r *Reconciler) effective(target *revision) []spec.Desired {
	out := make([]spec.Desired, len(target.desired))
	copy(out, target.desired)
	for i, d := range out {
		f, ok := r.failed[d.Name]
		if !ok {
			continue
		}
		fb, hasFallback := r.fallback[d.Name]
		switch {
		case f.Hash != d.Hash:
			delete(r.failed, d.Name)
		case hasFallback:
			out[i] = fb
		}
	}
	return out
}

// crashLoops marks workloads whose current version crash-loops as failed
// and makes the version they ran before it their fallback again. A crash
// loop shows only after several restarts, long after the switch.
func (r *Reconciler) crashLoops(desired []spec.Desired) {
	if r.deps.Supervisor == nil {
		return
	}
	for _, d := range desired {
		prev, ok := r.previous[d.Name]
		if _, failed := r.failed[d.Name]; failed || !ok || prev.Hash == d.Hash || !r.deps.Supervisor.CrashLoop(d.Name) {
			continue
		}
		_, exits := r.deps.Supervisor.Restarts(d.Name)
		r.failed[d.Name] = failure{Hash: d.Hash, Image: d.Spec.Image, To: prev.Spec.Image,
			Reason: fmt.Sprintf("crash loop (exit codes %v)", exits)}
		r.fallback[d.Name] = prev
		r.log.Warn("rolling back", keyWorkload, d.Name, "reason", "crash loop")
	}
}

// promote makes d the workload's last known good version and keeps the one
// before it for a crash loop that shows later.
func (r *Reconciler) promote(d spec.Desired) {
	if fb, ok := r.fallback[d.Name]; ok && fb.Hash != d.Hash {
		r.previous[d.Name] = fb
	}
	r.fallback[d.Name] = d
}

// verdict waits for a started workload's health and returns the reason it
// is unhealthy, or "" when it is healthy (or nothing checks health).
func (r *Reconciler) verdict(ctx context.Context, d spec.Desired) string {
	if r.deps.Health == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, verdictTimeout(d.Spec.Health))
	defer cancel()
	healthy, err := r.deps.Health.Wait(ctx, d.Name, d.Hash)
	switch {
	case err != nil:
		return fmt.Sprintf("no health verdict within %s", verdictTimeout(d.Spec.Health))
	case !healthy:
		_, msg := r.deps.Health.Health(d.Name)
		return "unhealthy: " + msg
	}
	return ""
}

// verdictTimeout bounds the wait for a new container's first verdict: its
// start period, then enough probes to reach the failure threshold.
func verdictTimeout(h *spec.Health) time.Duration {
	const slack = 10 * time.Second
	if h == nil {
		return slack
	}
	n := time.Duration(max(h.FailureThreshold, 1))
	return h.StartPeriod.Duration + n*(h.Period.Duration+h.Timeout.Duration) + slack
}

// keepImages are the images GC must keep: what runs and every fallback.
func (r *Reconciler) keepImages(desired []spec.Desired) []string {
	var keep []string
	for _, d := range desired {
		keep = append(keep, d.Spec.Image)
	}
	for _, fb := range r.fallback {
		keep = append(keep, fb.Spec.Image)
	}
	for _, p := range r.previous {
		keep = append(keep, p.Spec.Image)
	}
	return keep
}

// watchRunning tells the health checker what runs before the plan's
// actions: the desired spec of workloads the plan leaves alone, and the
// last known good spec of those it changes. A new spec is watched only once
// its container started (watch): on host networking a probe of its port
// would otherwise reach the old container.
func (r *Reconciler) watchRunning(desired []spec.Desired, plan []Action) {
	r.watching = map[string]spec.Desired{}
	planned := map[string]bool{}
	for _, a := range plan {
		planned[a.Workload] = true
	}
	for _, d := range desired {
		if !planned[d.Name] {
			r.watching[d.Name] = d
		} else if fb, ok := r.fallback[d.Name]; ok {
			r.watching[d.Name] = fb
		}
	}
	r.pushWatch()
}

// watch starts probing d, which now runs.
func (r *Reconciler) watch(d spec.Desired) {
	r.watching[d.Name] = d
	r.pushWatch()
}

func (r *Reconciler) pushWatch() {
	if r.deps.Health == nil {
		return
	}
	ws := make([]spec.Desired, 0, len(r.watching))
	for _, d := range r.watching {
		ws = append(ws, d)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].Name < ws[j].Name })
	r.deps.Health.Watch(ws)
}
