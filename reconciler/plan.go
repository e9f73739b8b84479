package reconciler

import (
	"fmt"
	"sort"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// ActionKind says what an Action does to a workload.
type ActionKind string

// The actions a plan may contain.
const (
	// Start creates a workload that has no healthy container.
	Start ActionKind = "start"
	// Replace swaps a workload's container for one of a new spec.
	Replace ActionKind = "replace"
	// Remove deletes a workload that is no longer desired.
	Remove ActionKind = "remove"
)

// Action is one step of a plan.
type Action struct {
	Kind     ActionKind
	Workload string
	// Desired is the spec to run; nil for Remove.
	Desired *spec.Desired
	// Reason says why, for logs and status messages.
	Reason string
	// Restart is true when the desired container exists but stopped.
	Restart bool
	// Drift is true when the container was changed outside gitfleet.
	Drift bool
}

func (a Action) String() string { return fmt.Sprintf("%s %s: %s", a.Kind, a.Workload, a.Reason) }

// PlanOptions changes how Plan treats stopped containers.
type PlanOptions struct {
	// Supervised means a restart supervisor restarts exited containers per
	// their policy, with backoff: Plan leaves stopped containers to it.
	Supervised bool
}

// Plan compares what should run with what runs and returns the steps that
// make them equal: removals first (they may free ports), then starts and
// replacements, each group in name order. It is pure: same input, same plan.
// A workload whose desired spec already runs gets no action, so an agent that
// restarts adopts what runs instead of restarting it. A stopped container is
// restarted only if its restart policy says so and no supervisor does it.
func Plan(desired []spec.Desired, actual []status.Instance, opts PlanOptions) []Action {
	byName := make(map[string][]status.Instance)
	for _, in := range actual {
		byName[in.Workload] = append(byName[in.Workload], in)
	}
	want := make(map[string]bool, len(desired))
	var removes, runs []Action
	for i := range desired {
		d := &desired[i]
		want[d.Name] = true
		if a, ok := planOne(d, byName[d.Name], opts); ok {
			runs = append(runs, a)
		}
	}
	for name := range byName {
		if !want[name] {
			removes = append(removes, Action{Kind: Remove, Workload: name, Reason: "no longer assigned to this node"})
		}
	}
	byWorkload := func(as []Action) {
		sort.Slice(as, func(i, j int) bool { return as[i].Workload < as[j].Workload })
	}
	byWorkload(removes)
	byWorkload(runs)
	return append(removes, runs...)
}

// planOne decides the action for one desired workload given its containers.
func planOne(d *spec.Desired, have []status.Instance, opts PlanOptions) (Action, bool) {
	if len(have) == 0 {
		return Action{Kind: Start, Workload: d.Name, Desired: d, Reason: "no container"}, true
	}
	var same *status.Instance
	for i := range have {
		if have[i].SpecHash == d.Hash {
			same = &have[i]
			break
		}
	}
	switch {
	case same == nil && len(have) == 1 && have[0].SpecHash == "":
		return Action{Kind: Replace, Workload: d.Name, Desired: d, Drift: true, Reason: "container changed outside gitfleet"}, true
	case same == nil:
		return Action{Kind: Replace, Workload: d.Name, Desired: d, Reason: "spec changed"}, true
	case same.State == status.StateStopped && same.StartedAt.IsZero():
		// Stopped before the agent finished starting it (a containerd
		// restart cut the start off): an interrupted attempt, not an exit
		// for the restart policy or a supervisor to judge.
		return Action{Kind: Start, Workload: d.Name, Desired: d, Restart: true,
			Reason: "container stopped before its start was recorded"}, true
	case same.State == status.StateStopped && !restarts(d.Spec.Restart, same.ExitCode, opts):
		return Action{}, false
	case same.State != status.StateRunning:
		return Action{Kind: Start, Workload: d.Name, Desired: d, Restart: true,
			Reason: fmt.Sprintf("container %s (exit code %d)", same.State, same.ExitCode)}, true
	case len(have) > 1:
		return Action{Kind: Replace, Workload: d.Name, Desired: d, Reason: "stale containers of an older spec"}, true
	}
	return Action{}, false
}

// restarts reports whether Plan restarts a stopped container: its policy
// allows it and no supervisor owns restarts.
func restarts(policy string, exitCode int, opts PlanOptions) bool {
	switch {
	case opts.Supervised, policy == spec.RestartNever:
		return false
	case policy == spec.RestartOnFailure:
		return exitCode != 0
	}
	return true
}
