package plan

import (
	"bytes"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/gitfleet/gitfleet/spec"
)

// candidates picks, among the node files equal at base and head, those
// that may run something else at head, from their bytes alone, so that
// only those are parsed (a fleet's node files are most of its YAML, and a
// change touches few of them). A node whose file did not change is
// affected only through a changed group that selects it, a changed
// workload it or its groups name, a secret file it names, or fleet.yaml;
// a group with rollout waves counts every node it selects. A file that
// cannot hold a label pair a selector asks for (its key and value
// written next to each other, plain or quoted, as YAML writes them) is
// not selected by it. A file with anything that could write a label
// otherwise (escapes, anchors, aliases, tags, block scalars, explicit
// keys) is always a candidate, and so is every file when a selector
// cannot be checked this way (empty, or quotes in its labels).
//
// all is true when every node must be parsed (fleet.yaml changed).
type candidates struct {
	all       bool
	none      bool          // nothing that changed can reach an unchanged node file (see reach.go)
	groups    [][]labelPair // per distinct selector, one per label pair: a file must match every pair of one
	workloads []string      // changed workload names
}

// exotic are the bytes of YAML that can write a key or a value other than
// as it reads.
var exotic = []byte("\\&*!|>?\t")

func newCandidates(d *differ, base, head *spec.Repo) *candidates {
	c := &candidates{all: d.fleetChanged}
	if c.all {
		return c
	}
	c.workloads = slices.Sorted(maps.Keys(d.workloadsChanged))
	groups := map[string]spec.Selector{} // by "<revision>/<group>"
	for _, r := range []struct {
		name string
		repo *spec.Repo
	}{{"base", base}, {"head", head}} {
		for name, g := range r.repo.Groups {
			uses := slices.ContainsFunc(g.Spec.Workloads, func(w string) bool { return d.workloadsChanged[w] })
			if d.groupsChanged[name] || uses || g.Spec.Rollout != nil {
				groups[r.name+"/"+name] = g.Spec.Selector
			}
		}
	}
	seen := map[string]bool{} // a selector unchanged by a change is in base and head alike
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		sel := groups[key]
		if len(sel.MatchLabels) == 0 {
			c.all = true
			return c
		}
		var terms []labelPair
		var id strings.Builder
		for _, k := range slices.Sorted(maps.Keys(sel.MatchLabels)) {
			v := sel.MatchLabels[k]
			if strings.ContainsAny(k+v, `'"`) {
				c.all = true
				return c
			}
			terms = append(terms, newLabelPair(k, v))
			id.WriteString(k + "\x00" + v + "\x00")
		}
		if !seen[id.String()] {
			seen[id.String()] = true
			c.groups = append(c.groups, terms)
		}
	}
	return c
}

// labelPattern matches "key: value" as YAML writes a pair of plain or
// quoted scalars, in a block or a flow mapping.
func labelPattern(k, v string) *regexp.Regexp {
	q := func(s string) string {
		s = regexp.QuoteMeta(s)
		return `(?:` + s + `|'` + s + `'|"` + s + `")`
	}
	return regexp.MustCompile(`(?m)(?:^|[\s{,])` + q(k) + `\s*:\s*` + q(v) + `\s*(?:$|[\s,}#])`)
}

// keep reports whether the unchanged node file with content b may be
// affected.
func (c *candidates) keep(b []byte) bool {
	if c.all || bytes.ContainsAny(b, string(exotic)) || bytes.Contains(b, []byte("secrets")) {
		return true
	}
	for _, w := range c.workloads {
		if bytes.Contains(b, []byte(w)) {
			return true
		}
	}
	for _, terms := range c.groups {
		if !slices.ContainsFunc(terms, func(t labelPair) bool { return !t.match(b) }) {
			return true
		}
	}
	return false
}
