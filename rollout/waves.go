// Package rollout decides, from the fleet repo and the nodes' status
// reports, when a node may apply a revision: the waves of a group's
// spec.rollout and their health gate, and a workload's update lock.
//
// It is pure: it reads spec and status values and the time it is given,
// and does no I/O. The reconciler gathers the inputs (every node's labels,
// the status reports of the group's nodes, whether a lock file exists) and
// acts on the decisions.
package rollout

import (
	"cmp"
	"crypto/sha256"
	"maps"
	"slices"

	"github.com/gitfleet/gitfleet/spec"
)

// Wave is one wave of a group and the nodes in it, sorted by name.
type Wave struct {
	Name  string
	Nodes []string
}

// Assign puts each of members (the names and labels of the nodes group g
// selects, see Members) in a wave of g's rollout. Waves take nodes in
// order, each from the nodes no earlier wave took: a wave with a selector
// the ones it matches, a wave with a percentage ceil(percent × n / 100) of
// the n remaining nodes, chosen in the order of the SHA-256 of
// "<group>/<node>", a wave with neither every remaining node. Nodes no wave
// took form one more wave named spec.ImplicitWave.
//
// The result has one entry per wave of g, in order (some may be empty),
// plus the implicit wave when it is not empty; nil when g has no rollout.
// The choice of a percentage wave depends only on the nodes that reach it:
// nodes outside the group, or taken by an earlier selector wave, do not
// move it.
func Assign(g spec.Group, members map[string]map[string]string) []Wave {
	r := g.Spec.Rollout
	if r == nil {
		return nil
	}
	remaining := slices.Sorted(maps.Keys(members))
	out := make([]Wave, 0, len(r.Waves)+1)
	for _, w := range r.Waves {
		var taken, left []string
		switch {
		case w.Percent > 0:
			byHash := slices.Clone(remaining)
			keys := make(map[string][sha256.Size]byte, len(byHash))
			for _, n := range byHash {
				keys[n] = sha256.Sum256([]byte(g.Metadata.Name + "/" + n))
			}
			slices.SortFunc(byHash, func(a, b string) int {
				ka, kb := keys[a], keys[b]
				return cmp.Or(slices.Compare(ka[:], kb[:]), cmp.Compare(a, b))
			})
			k := (w.Percent*len(byHash) + 99) / 100
			in := map[string]bool{}
			for _, n := range byHash[:k] {
				in[n] = true
			}
			for _, n := range remaining {
				if in[n] {
					taken = append(taken, n)
				} else {
					left = append(left, n)
				}
			}
		case w.Selector != nil:
			for _, n := range remaining {
				if w.Selector.Matches(members[n]) {
					taken = append(taken, n)
				} else {
					left = append(left, n)
				}
			}
		default:
			taken = remaining
		}
		out = append(out, Wave{Name: w.Name, Nodes: taken})
		remaining = left
	}
	if len(remaining) > 0 {
		out = append(out, Wave{Name: spec.ImplicitWave, Nodes: remaining})
	}
	return out
}

// WaveOf returns the index and name of the wave node belongs to in group
// g, given the names and labels of all the nodes g selects (see Members),
// or -1 and "" when g has no rollout. A node missing from members is
// placed as if it were one, without labels.
func WaveOf(g spec.Group, node string, members map[string]map[string]string) (int, string) {
	if g.Spec.Rollout == nil {
		return -1, ""
	}
	waves := Assign(g, withNode(members, node))
	for i, w := range waves {
		if _, found := slices.BinarySearch(w.Nodes, node); found {
			return i, w.Name
		}
	}
	// Unreachable: every member is in a wave.
	return len(waves), spec.ImplicitWave
}

// withNode returns members with node added (without labels) if it is not
// there.
func withNode(members map[string]map[string]string, node string) map[string]map[string]string {
	if _, ok := members[node]; ok {
		return members
	}
	m := maps.Clone(members)
	if m == nil {
		m = map[string]map[string]string{}
	}
	m[node] = nil
	return m
}

// Members returns the nodes of repo that g selects; see MembersOf. repo
// must hold every node file (spec.Parse, not spec.ParseForNode).
func Members(repo *spec.Repo, g spec.Group, self string, selfLabels map[string]string) map[string]map[string]string {
	return MembersOf(repo.Nodes, g, self, selfLabels)
}

// MembersOf returns the nodes of nodes (by name, as in nodes/<name>.yaml)
// that g selects, with their labels: each node file's metadata.labels, and
// for self (the node asking) those overlaid with selfLabels (its --labels),
// as spec.Resolve sees them. self is included when its labels match, even
// without a file.
//
// The --labels of other nodes are not known: a node selected by them alone
// is not counted. Neither is a node missing from nodes, such as one whose
// file does not parse (spec.Repo.ParseNodes leaves it out).
func MembersOf(nodes map[string]spec.Node, g spec.Group, self string, selfLabels map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for name, n := range nodes {
		labels := n.Metadata.Labels
		if name == self {
			continue
		}
		if g.Spec.Selector.Matches(labels) {
			out[name] = labels
		}
	}
	if self != "" {
		labels := maps.Clone(nodes[self].Metadata.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, selfLabels)
		if g.Spec.Selector.Matches(labels) {
			out[self] = labels
		}
	}
	return out
}
