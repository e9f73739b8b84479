package fleetstatus

import (
	"fmt"
	"io/fs"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/gitfleet/gitfleet/spec"
)

// fleetRepo is what the overview needs from the branch head.
type fleetRepo struct {
	nodes     map[string]spec.Node
	groups    map[string]spec.Group
	heartbeat time.Duration
	warning   string // why the head did not parse, if it did not
}

// readFleetRepo reads the head's tree (fleet.yaml, workloads/, groups/ and
// nodes/) with spec.Parse; if the head does not parse (a PR merged with an
// error), it falls back to reading node labels and group selectors
// leniently, and says so in warning.
func readFleetRepo(fsys fs.FS, head string) *fleetRepo {
	repo, perr := spec.Parse(fsys)
	if perr == nil {
		return &fleetRepo{nodes: repo.Nodes, groups: repo.Groups, heartbeat: repo.Fleet.Spec.Status.Heartbeat.Duration}
	}
	f := lenient(fsys)
	msg := perr.Error()
	n := strings.Count(msg, "\n") + 1
	first, _, _ := strings.Cut(msg, "\n")
	f.warning = fmt.Sprintf("the fleet repo at %s does not parse (%d errors; first: %s); labels and groups were read leniently", short(head), n, first)
	return f
}

// lenient reads what it can of nodes and groups, ignoring unknown fields
// and skipping files that do not read or decode.
func lenient(fsys fs.FS) *fleetRepo {
	f := &fleetRepo{nodes: map[string]spec.Node{}, groups: map[string]spec.Group{}}
	var fl spec.Fleet
	if b, err := fs.ReadFile(fsys, "fleet.yaml"); err == nil && yaml.Unmarshal(b, &fl) == nil {
		f.heartbeat = fl.Spec.Status.Heartbeat.Duration
	}
	for _, dir := range []string{"nodes", "groups"} {
		des, _ := fs.ReadDir(fsys, dir)
		for _, de := range des {
			base, ok := strings.CutSuffix(de.Name(), ".yaml")
			if !ok {
				base, ok = strings.CutSuffix(de.Name(), ".yml")
			}
			if !ok || !de.Type().IsRegular() {
				continue
			}
			b, err := fs.ReadFile(fsys, dir+"/"+de.Name())
			if err != nil {
				continue
			}
			switch dir {
			case "nodes":
				var n spec.Node
				if yaml.Unmarshal(b, &n) == nil {
					f.nodes[base] = n
				}
			case "groups":
				var g spec.Group
				if yaml.Unmarshal(b, &g) == nil {
					f.groups[base] = g
				}
			}
		}
	}
	return f
}
