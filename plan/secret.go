package plan

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

// markSecretChanges counts a workload, group or node as changed when a
// secret file its spec names at head changed: those files live outside
// workloads/, groups/ and nodes/, which the differ compares.
func (d *differ) markSecretChanges(base, head Revision, headRepo *spec.Repo) error {
	changed := map[string]bool{}
	anyChanged := func(secrets []spec.Secret) (bool, error) {
		for _, s := range secrets {
			c, seen := changed[s.File]
			if !seen {
				b, err := fileID(base.FS, s.File)
				if err != nil {
					return false, err
				}
				h, err := fileID(head.FS, s.File)
				if err != nil {
					return false, err
				}
				c = b != h
				changed[s.File] = c
			}
			if c {
				return true, nil
			}
		}
		return false, nil
	}
	if d.workloadsChanged == nil {
		d.workloadsChanged = map[string]bool{}
	}
	if d.groupsChanged == nil {
		d.groupsChanged = map[string]bool{}
	}
	for name, w := range headRepo.Workloads {
		c, err := anyChanged(w.Spec.Secrets)
		if err != nil {
			return err
		}
		if c {
			d.workloadsChanged[name] = true
		}
	}
	for name, g := range headRepo.Groups {
		for _, o := range g.Spec.Overrides {
			c, err := anyChanged(o.Secrets)
			if err != nil {
				return err
			}
			if c {
				d.groupsChanged[name] = true
			}
		}
	}
	for name, n := range headRepo.Nodes {
		for _, o := range n.Spec.Overrides {
			c, err := anyChanged(o.Secrets)
			if err != nil {
				return err
			}
			if c {
				delete(d.nodeSame, name+".yaml")
				delete(d.nodeSame, name+".yml")
			}
		}
	}
	return nil
}
