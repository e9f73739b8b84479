package status

import (
	"fmt"
	"slices"

	"sigs.k8s.io/yaml"
)

// Marshal returns the YAML form of st (status/<node>.yaml). It fills in
// apiVersion and kind when empty, writes lastSeen in UTC and an empty
// error list as "errors: []".
func Marshal(st *NodeStatus) ([]byte, error) {
	c := normalize(st)
	b, err := yaml.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("marshal status %s: %w", st.Metadata.Name, err)
	}
	return b, nil
}

// Unmarshal reads the YAML form of a status report. Fields it does not
// know (written by a newer fleetd) are ignored; a wrong apiVersion or kind
// is an error.
func Unmarshal(b []byte) (*NodeStatus, error) {
	var st NodeStatus
	if !unmarshalDirect(b, &st) {
		st = NodeStatus{}
		if err := yaml.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("unmarshal status: %w", err)
		}
	}
	if st.APIVersion != APIVersion || st.Kind != Kind {
		return nil, fmt.Errorf("unmarshal status: got apiVersion %q kind %q, want %s %s", st.APIVersion, st.Kind, APIVersion, Kind)
	}
	if err := unique(&st); err != nil {
		return nil, fmt.Errorf("unmarshal status: %w", err)
	}
	if st.Status.Errors == nil {
		st.Status.Errors = []Error{}
	}
	// An empty list reads as none, the form Marshal writes (it leaves
	// them out), so a report read back equals the one written.
	if len(st.Status.Conditions) == 0 {
		st.Status.Conditions = nil
	}
	if len(st.Status.Workloads) == 0 {
		st.Status.Workloads = nil
	}
	return &st, nil
}

// normalize returns a copy of st in the form Marshal writes.
func normalize(st *NodeStatus) NodeStatus {
	c := *st
	if c.APIVersion == "" {
		c.APIVersion = APIVersion
	}
	if c.Kind == "" {
		c.Kind = Kind
	}
	if !c.Status.LastSeen.IsZero() {
		c.Status.LastSeen = c.Status.LastSeen.UTC()
	}
	if c.Status.Errors == nil {
		c.Status.Errors = []Error{}
	}
	if len(c.Status.Conditions) > 0 {
		c.Status.Conditions = slices.Clone(c.Status.Conditions)
		for i := range c.Status.Conditions {
			if t := &c.Status.Conditions[i].LastTransitionTime; !t.IsZero() {
				*t = t.UTC()
			}
		}
	}
	if len(c.Status.Gates) > 0 {
		c.Status.Gates = slices.Clone(c.Status.Gates)
		for i := range c.Status.Gates {
			c.Status.Gates[i].At = c.Status.Gates[i].At.UTC()
		}
	}
	return c
}

// unique refuses a report that names a condition type or a workload
// twice: which of the two would a gate or a diff believe?
func unique(st *NodeStatus) error {
	types := make(map[string]bool, len(st.Status.Conditions))
	for i, c := range st.Status.Conditions {
		if types[c.Type] {
			return fmt.Errorf("status.conditions[%d]: type %q repeated", i, c.Type)
		}
		types[c.Type] = true
	}
	names := make(map[string]bool, len(st.Status.Workloads))
	for i, w := range st.Status.Workloads {
		if names[w.Name] {
			return fmt.Errorf("status.workloads[%d]: workload %q repeated", i, w.Name)
		}
		names[w.Name] = true
	}
	return nil
}
