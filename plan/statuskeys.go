package plan

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
)

// statusKeyWarnings warns of each node in a rollout wave that a later wave
// waits for, whose file enrols no spec.statusKey: the gate trusts only
// reports signed with the node's enrolled key, so it would never count
// that node healthy and the later waves would wait for ever.
func statusKeyWarnings(repo *spec.Repo, lines *lineFinder) []Finding {
	var out []Finding
	warned := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(repo.Groups)) {
		g := repo.Groups[name]
		if g.Spec.Rollout == nil {
			continue
		}
		waves := rollout.Assign(g, rollout.MembersOf(repo.Nodes, g, "", nil))
		for i, w := range waves {
			if i == len(waves)-1 {
				break // no wave waits for the last one
			}
			for _, n := range w.Nodes {
				if repo.Nodes[n].Spec.StatusKey != "" || warned[n] {
					continue
				}
				warned[n] = true
				file, line := lines.find("nodes", n, "metadata", "name")
				out = append(out, Finding{Severity: SeverityWarning, File: file, Line: line, Field: "spec.statusKey",
					Message: fmt.Sprintf("node %s is in wave %s of group %s but enrols no status key: later waves never count its reports healthy (run fleetd --print-status-key on the node and add the line as spec.statusKey)", n, w.Name, name)})
			}
		}
	}
	return out
}
