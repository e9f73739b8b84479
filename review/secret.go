package review

import (
	"slices"

	"github.com/gitfleet/gitfleet/spec"
)

// secretChanges lists the secrets a change adds, removes or changes, by
// name: where each reaches the container, and whether its encrypted value
// changed. A plan never shows a value (it cannot decrypt one either).
func secretChanges(a, b []spec.Secret) []FieldChange {
	old, cur := secretsByName(a), secretsByName(b)
	var names []string
	for n := range old {
		names = append(names, n)
	}
	for n := range cur {
		if _, ok := old[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out []FieldChange
	for _, n := range names {
		o, had := old[n]
		c, has := cur[n]
		switch {
		case !had:
			out = append(out, FieldChange{Field: "secrets." + n, Old: "(unset)", New: secretTarget(c)})
		case !has:
			out = append(out, FieldChange{Field: "secrets." + n, Old: secretTarget(o), New: "(unset)"})
		case secretTarget(o) != secretTarget(c):
			out = append(out, FieldChange{Field: "secrets." + n, Old: secretTarget(o), New: secretTarget(c)})
		case o.Digest() != c.Digest() || o.File != c.File:
			out = append(out, FieldChange{Field: "secrets." + n, Old: secretTarget(o), New: secretTarget(c) + ", new encrypted value (" + c.File + ")"})
		}
	}
	return out
}

func secretsByName(list []spec.Secret) map[string]spec.Secret {
	m := make(map[string]spec.Secret, len(list))
	for _, s := range list {
		m[s.Name] = s
	}
	return m
}

// secretTarget says where a secret reaches the container.
func secretTarget(s spec.Secret) string {
	if s.Env != "" {
		return "env " + s.Env
	}
	return "file " + s.Path
}
