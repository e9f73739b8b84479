package rollout_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
)

// group returns a group named name whose rollout has waves.
func group(name string, waves ...spec.Wave) spec.Group {
	g := spec.Group{Metadata: spec.ObjectMeta{Name: name}}
	g.Spec.Rollout = &spec.Rollout{Waves: waves, Gate: spec.Gate{MinHealthy: "100%"}}
	return g
}

func sel(k, v string) *spec.Selector { return &spec.Selector{MatchLabels: map[string]string{k: v}} }

// fleet returns n nodes node-00 … without labels, plus extra.
func fleet(n int, extra map[string]map[string]string) map[string]map[string]string {
	m := map[string]map[string]string{}
	for i := range n {
		m[fmt.Sprintf("node-%02d", i)] = nil
	}
	maps.Copy(m, extra)
	return m
}

func TestWaveOf(t *testing.T) {
	canary := map[string]map[string]string{"press-01": {"canary": "true"}, "press-02": {"canary": "true"}}
	std := group("line-a",
		spec.Wave{Name: "canary", Selector: sel("canary", "true")},
		spec.Wave{Name: "early", Percent: 25},
		spec.Wave{Name: "rest"})
	noCatchAll := group("line-a",
		spec.Wave{Name: "canary", Selector: sel("canary", "true")})
	tests := []struct {
		name     string
		g        spec.Group
		node     string
		members  map[string]map[string]string
		want     int
		wantName string
	}{
		{"no rollout", spec.Group{}, "press-01", canary, -1, ""},
		{"selector", std, "press-01", fleet(8, canary), 0, "canary"},
		{"catch-all", std, "press-02", fleet(0, canary), 0, "canary"},
		{"nothing left for percent", std, "node-00", fleet(1, canary), 1, "early"},
		{"implicit wave", noCatchAll, "node-00", fleet(3, canary), 1, spec.ImplicitWave},
		{"unknown node placed without labels", noCatchAll, "stranger", canary, 1, spec.ImplicitWave},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, name := rollout.WaveOf(tt.g, tt.node, tt.members)
			if got != tt.want || name != tt.wantName {
				t.Errorf("WaveOf(%s) = %d %q, want %d %q", tt.node, got, name, tt.want, tt.wantName)
			}
		})
	}
}

func TestAssignPercent(t *testing.T) {
	g := group("line-a",
		spec.Wave{Name: "canary", Selector: sel("canary", "true")},
		spec.Wave{Name: "early", Percent: 25},
		spec.Wave{Name: "rest"})
	canary := map[string]map[string]string{"press-01": {"canary": "true"}}
	waves := rollout.Assign(g, fleet(10, canary))
	if len(waves) != 3 {
		t.Fatalf("Assign = %v, want 3 waves", waves)
	}
	// ceil(25% of 10) = 3.
	if got := [3]int{len(waves[0].Nodes), len(waves[1].Nodes), len(waves[2].Nodes)}; got != [3]int{1, 3, 7} {
		t.Errorf("wave sizes = %v, want [1 3 7]", got)
	}
	early := waves[1].Nodes
	if !slices.IsSorted(early) {
		t.Errorf("early = %v, want sorted", early)
	}

	for _, tt := range []struct {
		name    string
		members map[string]map[string]string
	}{
		{"a new canary node", fleet(10, map[string]map[string]string{"press-01": {"canary": "true"}, "press-09": {"canary": "true"}})},
		{"members in another map order", maps.Clone(fleet(10, canary))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollout.Assign(g, tt.members)[1].Nodes; !slices.Equal(got, early) {
				t.Errorf("early = %v, want %v as before", got, early)
			}
		})
	}
	t.Run("another group name chooses others", func(t *testing.T) {
		h := g
		h.Metadata.Name = "line-b"
		other := rollout.Assign(h, fleet(40, canary))[1].Nodes
		same := rollout.Assign(g, fleet(40, canary))[1].Nodes
		if slices.Equal(other, same) {
			t.Errorf("groups line-a and line-b chose the same 25%%: %v", same)
		}
	})
	t.Run("a node joining keeps the nodes of a growing wave", func(t *testing.T) {
		before := rollout.Assign(g, fleet(12, canary))[1].Nodes // ceil(3) = 3
		after := rollout.Assign(g, fleet(13, canary))[1].Nodes  // ceil(3.25) = 4
		for _, n := range before {
			if !slices.Contains(after, n) {
				t.Errorf("%s left wave early when node-12 joined: %v → %v", n, before, after)
			}
		}
	})
	t.Run("small groups get at least one node", func(t *testing.T) {
		w := rollout.Assign(group("g", spec.Wave{Name: "one", Percent: 1}), fleet(3, nil))
		if len(w[0].Nodes) != 1 || len(w) != 2 || len(w[1].Nodes) != 2 || w[1].Name != spec.ImplicitWave {
			t.Errorf("Assign = %v, want 1 node then 2 in %s", w, spec.ImplicitWave)
		}
	})
}

func TestMembers(t *testing.T) {
	repo := &spec.Repo{Nodes: map[string]spec.Node{
		"a":    {Metadata: spec.ObjectMeta{Name: "a", Labels: map[string]string{"line": "a"}}},
		"b":    {Metadata: spec.ObjectMeta{Name: "b", Labels: map[string]string{"line": "b"}}},
		"self": {Metadata: spec.ObjectMeta{Name: "self", Labels: map[string]string{"line": "b"}}},
	}}
	g := spec.Group{Spec: spec.GroupSpec{Selector: spec.Selector{MatchLabels: map[string]string{"line": "a"}}}}
	got := rollout.Members(repo, g, "self", map[string]string{"line": "a", "canary": "true"})
	want := map[string]map[string]string{"a": {"line": "a"}, "self": {"line": "a", "canary": "true"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Members = %v, want %v", got, want)
	}
	if got := rollout.Members(repo, g, "new", map[string]string{"line": "a"}); len(got) != 2 || got["new"] == nil {
		t.Errorf("Members with a node without a file = %v, want a and new", got)
	}
}
