package reconciler

import (
	"context"
	"fmt"
	"strings"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// settled checks, once a pass's actions are done, that the runtime runs
// what they aimed at: the plan from a fresh list is empty. If it is not
// (a containerd restart stopped a container that had started, or left
// a task half made), the pass did not converge and says so as a
// transient error, so that `fleetd --once` does not report success and
// the loop runs the next pass soon.
func (r *Reconciler) settled(ctx context.Context, desired []spec.Desired) error {
	actual, err := r.deps.Runtime.List(ctx)
	if err != nil {
		return &ListError{When: "after the actions", Err: err}
	}
	rest := Plan(desired, actual, PlanOptions{Supervised: r.deps.Supervisor != nil})
	if len(rest) == 0 {
		return nil
	}
	left := make([]string, len(rest))
	for i, a := range rest {
		left[i] = a.String()
	}
	return fault.Retry("", fmt.Errorf("not converged after the actions: %s", strings.Join(left, "; ")))
}
