package plan

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"

	"github.com/gitfleet/gitfleet/spec"
)

// diffNodes is diffNode of each node of names, in order, leaving out those
// that do not change. Nodes in both revisions whose results at base and at
// head are each shared by a class of nodes (see resolveAll) differ alike:
// they are compared once, and the comparison is given each name. The
// lists of the NodePlans are then shared: callers only read them.
func diffNodes(names []string, base, head *spec.Repo, baseRes, headRes map[string]resolved) []NodePlan {
	// names are the nodes that may change, most often all of them: the
	// list is made for them, not grown (a NodePlan is about 230 bytes).
	out := make([]NodePlan, 0, len(names))
	type pair struct{ b, h int }
	seen := map[pair]*NodePlan{}
	for _, n := range names {
		b, h := baseRes[n], headRes[n]
		_, inBase := base.Nodes[n]
		_, inHead := head.Nodes[n]
		key := pair{b.class, h.class}
		shared := inBase && inHead && b.class != 0 && h.class != 0
		np, ok := seen[key]
		if !shared || !ok {
			np = diffNode(n, base, head, b, h)
			if shared {
				seen[key] = np
			}
		}
		if np != nil {
			c := *np
			c.Name = n
			out = append(out, c)
		}
	}
	return out
}

// diffNode compares what node n runs at base and at head; nil when
// nothing changes.
func diffNode(n string, base, head *spec.Repo, b, h resolved) *NodePlan {
	np := &NodePlan{Name: n, Added: []Workload{}, Changed: []Change{}, Removed: []Workload{}}
	_, inBase := base.Nodes[n]
	_, inHead := head.Nodes[n]
	switch {
	case inHead && !inBase:
		np.File = "added"
	case inBase && !inHead:
		np.File = "removed"
	}
	if h.err != nil {
		// The node refuses head and keeps what it runs.
		np.Errors, _ = findings(h.err)
		return np
	}
	// A base that did not resolve was refused by the node, which runs an
	// older revision we do not know: compare with nothing.
	was := map[string]spec.Desired{}
	for _, d := range b.desired {
		was[d.Name] = d
		np.baseImages = append(np.baseImages, d.Spec.Image)
	}
	now := map[string]spec.Desired{}
	for _, d := range h.desired {
		now[d.Name] = d
	}
	for _, name := range slices.Sorted(maps.Keys(now)) {
		d := now[name]
		old, ok := was[name]
		switch {
		case !ok:
			np.Added = append(np.Added, Workload{Name: name, Image: d.Spec.Image})
			np.newImages = append(np.newImages, d.Spec.Image)
		case old.Hash != d.Hash:
			np.Changed = append(np.Changed, Change{Name: name, Fields: fieldChanges(old.Spec, d.Spec)})
			if digestOf(old.Spec.Image) != digestOf(d.Spec.Image) {
				np.newImages = append(np.newImages, d.Spec.Image)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(was)) {
		if _, ok := now[name]; !ok {
			np.Removed = append(np.Removed, Workload{Name: name, Image: was[name].Spec.Image})
		}
	}
	if len(np.Added)+len(np.Changed)+len(np.Removed) == 0 {
		return nil
	}
	return np
}

// fieldChanges lists the fields of a workload spec that differ, compared
// as spec.HashSpec compares them ("1Gi" equals "1024Mi", ports as a set).
func fieldChanges(a, b spec.WorkloadSpec) []FieldChange {
	var out []FieldChange
	add := func(field string, av, bv any) {
		out = append(out, FieldChange{Field: field, Old: jsonText(av), New: jsonText(bv)})
	}
	if digestOf(a.Image) != digestOf(b.Image) || a.Image != b.Image {
		out = append(out, FieldChange{Field: "image", Old: a.Image, New: b.Image})
	}
	if !sameField(spec.WorkloadSpec{Args: a.Args}, spec.WorkloadSpec{Args: b.Args}) {
		add("args", a.Args, b.Args)
	}
	for _, k := range slices.Sorted(maps.Keys(union(a.Env, b.Env))) {
		av, aok := a.Env[k]
		bv, bok := b.Env[k]
		if av != bv || aok != bok {
			out = append(out, FieldChange{Field: "env." + k, Old: envText(av, aok), New: envText(bv, bok)})
		}
	}
	if !sameField(spec.WorkloadSpec{Ports: a.Ports}, spec.WorkloadSpec{Ports: b.Ports}) {
		add("ports", a.Ports, b.Ports)
	}
	if !sameField(spec.WorkloadSpec{Mounts: a.Mounts}, spec.WorkloadSpec{Mounts: b.Mounts}) {
		add("mounts", a.Mounts, b.Mounts)
	}
	if !sameField(spec.WorkloadSpec{Resources: a.Resources}, spec.WorkloadSpec{Resources: b.Resources}) {
		add("resources", a.Resources, b.Resources)
	}
	if !sameField(spec.WorkloadSpec{Health: a.Health}, spec.WorkloadSpec{Health: b.Health}) {
		add("health", a.Health, b.Health)
	}
	if !sameField(spec.WorkloadSpec{Restart: a.Restart}, spec.WorkloadSpec{Restart: b.Restart}) {
		out = append(out, FieldChange{Field: "restart", Old: a.Restart, New: b.Restart})
	}
	return append(out, secretChanges(a.Secrets, b.Secrets)...)
}

// sameField compares two specs that hold one field each, with HashSpec's
// notion of equality. Equal values hash equal, so those (most fields of a
// changed workload) are not hashed.
func sameField(a, b spec.WorkloadSpec) bool {
	return reflect.DeepEqual(a, b) || spec.HashSpec(a) == spec.HashSpec(b)
}

func union(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, b)
	return m
}

func envText(v string, ok bool) string {
	if !ok {
		return "(unset)"
	}
	return v
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return "(none)"
	}
	return string(b)
}

// digestOf returns the "sha256:…" of a pinned reference ("" if none).
func digestOf(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '@' {
			return ref[i+1:]
		}
	}
	return ""
}
