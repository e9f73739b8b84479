package fleetstatus

import (
	"maps"
	"slices"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
)

// Rollout is one group's staged rollout of the branch head: its waves in
// order, each with its nodes' states. Its nodes are those of nodes/ the
// group selects (labels a node adds with fleetd --labels are not known).
type Rollout struct {
	Group string        `json:"group"`
	Waves []RolloutWave `json:"waves"`
}

// RolloutWave is one wave of a rollout.
type RolloutWave struct {
	Name  string   `json:"name"`
	Nodes []string `json:"nodes"`
	// AtHead counts the wave's nodes whose applied revision is the head.
	AtHead int `json:"atHead"`
	// Counts has the number of the wave's nodes in each state (states with
	// no node left out).
	Counts map[State]int `json:"counts"`
}

// Done reports whether every node of the wave runs the head.
func (w RolloutWave) Done() bool { return w.AtHead == len(w.Nodes) }

// rollouts lists the rollout of every group with spec.rollout, groups by
// name, with the states of nodes (by name).
func rollouts(groups map[string]spec.Group, declared map[string]spec.Node, nodes []Node, head string) []Rollout {
	byName := make(map[string]*Node, len(nodes))
	for i := range nodes {
		byName[nodes[i].Name] = &nodes[i]
	}
	out := []Rollout{}
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		g := groups[name]
		if g.Spec.Rollout == nil {
			continue
		}
		r := Rollout{Group: name}
		for _, w := range rollout.Assign(g, rollout.MembersOf(declared, g, "", nil)) {
			rw := RolloutWave{Name: w.Name, Nodes: slices.Clone(w.Nodes), Counts: map[State]int{}}
			if rw.Nodes == nil {
				rw.Nodes = []string{}
			}
			for _, n := range w.Nodes {
				node, ok := byName[n]
				if !ok {
					continue
				}
				rw.Counts[node.State]++
				if node.AppliedRevision == head && head != "" {
					rw.AtHead++
				}
			}
			r.Waves = append(r.Waves, rw)
		}
		out = append(out, r)
	}
	return out
}
