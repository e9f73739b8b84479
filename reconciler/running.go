package reconciler

import (
	"slices"
	"strings"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// runningDesired describes what the runtime runs as desired workloads, for
// a report made before any revision was read (an agent restarted while the
// git server is unreachable): each container the agent owns counts as the
// workload it was started for, at the spec it was started with. So the
// status counts what runs, never "0/0 workloads", and the applied revision
// (from the state file) stays the one those containers came from.
func runningDesired(actual []status.Instance) []spec.Desired {
	out := []spec.Desired{}
	for name, in := range instancesByWorkload(actual) {
		out = append(out, spec.Desired{Name: name, Hash: in.SpecHash, Spec: spec.WorkloadSpec{Image: in.Image}})
	}
	slices.SortFunc(out, func(a, b spec.Desired) int { return strings.Compare(a.Name, b.Name) })
	return out
}
