package spec

import (
	"fmt"
	"maps"
	"slices"

	yamlv3 "go.yaml.in/yaml/v3"
)

// Resolve returns the workloads node must run, sorted by name.
//
// The node's labels are its metadata.labels in nodes/<node>.yaml (none when
// the file is absent) overlaid with localLabels, which win. Every group
// whose selector matches those labels, in name order, assigns its
// spec.workloads and applies its overrides to them; then the node assigns
// its own spec.workloads and applies its overrides last. An override merges
// env key by key and replaces every other field it sets. Each result is
// validated again and its errors name the file and field that set the bad
// value.
func (r *Repo) Resolve(node string, localLabels map[string]string) ([]Desired, error) {
	n := r.Nodes[node]
	labels := maps.Clone(n.Metadata.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, localLabels)

	var errs errorList
	set := map[string]*resolved{}
	assign := func(name string, from origin, at fieldPath) *resolved {
		if d, ok := set[name]; ok {
			return d
		}
		w, ok := r.Workloads[name]
		if !ok {
			r.report(&errs, from.key, at, unknownWorkload(name))
			return nil
		}
		d := &resolved{spec: cloneSpec(w.Spec), base: origin{key: dirWorkloads + "/" + name, at: fieldPath{}.key("spec")}, from: map[string]origin{}}
		set[name] = d
		return d
	}
	for _, gname := range sortedKeys(r.Groups) {
		g := r.Groups[gname]
		if !g.Spec.Selector.Matches(labels) {
			continue
		}
		key := dirGroups + "/" + gname
		for i, name := range g.Spec.Workloads {
			d := assign(name, origin{key: key}, fieldPath{}.key("spec").key("workloads").index(i))
			if o, ok := g.Spec.Overrides[name]; ok && d != nil {
				d.apply(o, origin{key: key, at: fieldPath{}.key("spec").key("overrides").key(name)})
			}
		}
	}
	key := dirNodes + "/" + node
	for i, name := range n.Spec.Workloads {
		assign(name, origin{key: key}, fieldPath{}.key("spec").key("workloads").index(i))
	}
	for _, name := range sortedKeys(n.Spec.Overrides) {
		at := fieldPath{}.key("spec").key("overrides").key(name)
		d, ok := set[name]
		if !ok {
			r.report(&errs, key, at, fmt.Errorf("override for workload %q, which is not assigned to this node: no group matching its labels nor spec.workloads lists it", name))
			continue
		}
		d.apply(n.Spec.Overrides[name], origin{key: key, at: at})
	}

	hosts := policyOf(&r.Fleet.Spec)
	out := make([]Desired, 0, len(set))
	for _, name := range sortedKeys(set) {
		d := set[name]
		d.spec.setDefaults()
		checkSpec(func(p fieldPath, err error) {
			o := d.origin(p)
			r.report(&errs, o.key, o.at.join(p), fmt.Errorf("workload %s on node %s: %w", name, node, err))
		}, nil, &d.spec, hosts, false)
		out = append(out, Desired{Name: name, Spec: d.spec, Hash: HashSpec(d.spec), HostPaths: slices.Clone(hosts.paths)})
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Matches reports whether labels include every pair of s.MatchLabels. An
// empty selector matches every node.
func (s Selector) Matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// origin is where a value of a resolved spec was set: a file (by its key in
// Repo.files) and the field path of the spec or override in it.
type origin struct {
	key string
	at  fieldPath
}

// resolved is a workload being resolved for a node, with the origin of
// every field an override set.
type resolved struct {
	spec WorkloadSpec
	base origin
	from map[string]origin // by top-level field name, or "env.KEY"
}

// apply applies an override: env merges key by key, every other field it
// sets replaces the workload's.
func (d *resolved) apply(o Override, from origin) {
	set := func(field string) { d.from[field] = from }
	if o.Image != "" {
		d.spec.Image = o.Image
		set("image")
	}
	if o.Args != nil {
		d.spec.Args = slices.Clone(o.Args)
		set("args")
	}
	for k, v := range o.Env {
		if d.spec.Env == nil {
			d.spec.Env = map[string]string{}
		}
		d.spec.Env[k] = v
		set("env." + k)
	}
	if o.Ports != nil {
		d.spec.Ports = slices.Clone(o.Ports)
		set("ports")
	}
	if o.Mounts != nil {
		d.spec.Mounts = slices.Clone(o.Mounts)
		set("mounts")
	}
	if o.Resources != nil {
		d.spec.Resources = *o.Resources
		set("resources")
	}
	if o.Health != nil {
		d.spec.Health = cloneHealth(o.Health)
		set("health")
	}
	if o.Restart != "" {
		d.spec.Restart = o.Restart
		set("restart")
	}
	if o.UpdateLock != nil {
		l := *o.UpdateLock
		d.spec.UpdateLock = &l
		set("updateLock")
	}
	if o.Secrets != nil {
		d.spec.Secrets = slices.Clone(o.Secrets)
		set("secrets")
	}
	if o.User != "" {
		d.spec.User = o.User
		set("user")
	}
	if o.ReadOnlyRootFilesystem != nil {
		d.spec.ReadOnlyRootFilesystem = *o.ReadOnlyRootFilesystem
		set("readOnlyRootFilesystem")
	}
	if o.Network != "" {
		d.spec.Network = o.Network
		set("network")
	}
	if o.Capabilities != nil {
		d.spec.Capabilities = cloneCapabilities(*o.Capabilities)
		set("capabilities")
	}
}

func cloneCapabilities(c Capabilities) Capabilities {
	return Capabilities{Add: slices.Clone(c.Add), Drop: slices.Clone(c.Drop)}
}

// origin returns where the value at p (relative to the spec) was set.
func (d *resolved) origin(p fieldPath) origin {
	if len(p) == 0 {
		return d.base
	}
	field := p[0].key
	if field == "env" && len(p) > 1 {
		field = "env." + p[1].key
	}
	if o, ok := d.from[field]; ok {
		return o
	}
	return d.base
}

// report adds an error at p in the file stored under key.
func (r *Repo) report(errs *errorList, key string, p fieldPath, err error) {
	f, ok := r.files[key]
	if !ok {
		name := key + ".yaml"
		if key == "fleet" {
			name = fleetFile
		}
		errs.add(name, 0, p.String(), err)
		return
	}
	var n yamlv3.Node
	line := 0
	if yamlv3.Unmarshal(f.data, &n) == nil && len(n.Content) == 1 {
		line = locate(n.Content[0], p)
	}
	errs.add(f.name, line, p.String(), err)
}

func cloneSpec(s WorkloadSpec) WorkloadSpec {
	s.Args = slices.Clone(s.Args)
	s.Env = maps.Clone(s.Env)
	s.Ports = slices.Clone(s.Ports)
	s.Mounts = slices.Clone(s.Mounts)
	s.Health = cloneHealth(s.Health)
	s.Secrets = slices.Clone(s.Secrets)
	if s.StopTimeout != nil {
		t := *s.StopTimeout
		s.StopTimeout = &t
	}
	s.Capabilities = cloneCapabilities(s.Capabilities)
	if s.UpdateLock != nil {
		l := *s.UpdateLock
		s.UpdateLock = &l
	}
	return s
}

func cloneHealth(h *Health) *Health {
	if h == nil {
		return nil
	}
	c := *h
	if h.HTTP != nil {
		v := *h.HTTP
		c.HTTP = &v
	}
	if h.TCP != nil {
		v := *h.TCP
		c.TCP = &v
	}
	if h.Exec != nil {
		c.Exec = &ExecProbe{Command: slices.Clone(h.Exec.Command)}
	}
	return &c
}
