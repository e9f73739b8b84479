package spec

import (
	"errors"
	"fmt"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// checkRollout checks a group's spec.rollout at p. root is the group's
// YAML tree, to tell "percent: 0" from no percent.
func checkRollout(rep reporter, p fieldPath, r *Rollout, root *yamlv3.Node) {
	wp := p.key("waves")
	if len(r.Waves) == 0 {
		rep(wp, errors.New("is required: want at least one wave, such as [{name: canary, percent: 10}, {name: rest}]"))
	}
	names := map[string]bool{}
	for i, w := range r.Waves {
		ip := wp.index(i)
		switch {
		case w.Name == "":
			rep(ip.key("name"), errRequired)
		case checkName(w.Name) != nil:
			rep(ip.key("name"), checkName(w.Name))
		case names[w.Name]:
			rep(ip.key("name"), fmt.Errorf("duplicate wave %q", w.Name))
		}
		names[w.Name] = true
		if w.Selector != nil {
			checkLabels(rep, ip.key("selector").key("matchLabels"), w.Selector.MatchLabels)
		}
		pp := ip.key("percent")
		switch {
		case w.Percent < 0 || w.Percent > 100 || w.Percent == 0 && present(root, pp):
			rep(pp, fmt.Errorf("must be 1-100, got %d", w.Percent))
		case w.Percent != 0 && w.Selector != nil:
			rep(ip, errors.New("want a selector or a percent, not both"))
		case w.CatchAll() && i < len(r.Waves)-1:
			rep(ip, fmt.Errorf("wave %q takes every remaining node, so the waves after it would be empty: only the last wave may do so", w.Name))
		}
	}
	gp := p.key("gate")
	if r.Gate.HealthyFor.Duration < 0 {
		rep(gp.key("healthyFor"), fmt.Errorf("must not be negative, got %s", r.Gate.HealthyFor))
	}
	if _, ok := r.Gate.Percent(); !ok {
		rep(gp.key("minHealthy"), fmt.Errorf("must be a percentage from 1%% to 100%%, such as \"90%%\", got %q", r.Gate.MinHealthy))
	}
}

// checkUpdateLock checks a workload's update lock at p.
func checkUpdateLock(rep reporter, p fieldPath, l *UpdateLock, hosts fleetPolicy) {
	pp := p.key("path")
	switch err := checkAbs(l.Path); {
	case err != nil:
		rep(pp, err)
	case !hosts.known:
	case len(hosts.paths) == 0:
		rep(pp, fmt.Errorf("%s is not below an allowed host path: fleet.yaml lists no spec.hostPaths", l.Path))
	case !hosts.below(l.Path):
		rep(pp, fmt.Errorf("%s is not below an allowed host path: want a file below one of fleet.yaml's spec.hostPaths (%s)", l.Path, strings.Join(hosts.paths, ", ")))
	}
	switch d := l.MaxDeferral.Duration; {
	case d == 0:
		rep(p.key("maxDeferral"), errors.New("is required: want how long an update may wait for the lock, such as 2h"))
	case d < 0:
		rep(p.key("maxDeferral"), fmt.Errorf("must be positive, got %s", l.MaxDeferral))
	case d > MaxDeferral:
		rep(p.key("maxDeferral"), fmt.Errorf("must be at most %s (7 days), got %s", MaxDeferral, l.MaxDeferral))
	}
}

// below reports whether file is strictly below one of the host paths.
func (h fleetPolicy) below(file string) bool {
	for _, hp := range h.paths {
		if strings.HasPrefix(file, hp+"/") {
			return true
		}
	}
	return false
}

// present reports whether the field at p exists in root.
func present(root *yamlv3.Node, p fieldPath) bool {
	n := root
	budget := maxNodes
	for _, s := range p {
		for n != nil && n.Kind == yamlv3.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n == nil {
			return false
		}
		var next *yamlv3.Node
		switch {
		case s.idx >= 0 && n.Kind == yamlv3.SequenceNode && s.idx < len(n.Content):
			next = n.Content[s.idx]
		case s.idx < 0 && n.Kind == yamlv3.MappingNode:
			for _, kv := range pairs(n, &budget) {
				if kv[0].Value == s.key {
					next = kv[1]
					break
				}
			}
		}
		n = next
	}
	return n != nil
}
