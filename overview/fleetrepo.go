package overview

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"sigs.k8s.io/yaml"

	"github.com/gitfleet/gitfleet/spec"
)

// maxSpecFile bounds one file read from the fleet repo.
const maxSpecFile = 1 << 20

// fleetRepo is what the overview needs from the branch head.
type fleetRepo struct {
	nodes     map[string]spec.Node
	groups    map[string]spec.Group
	heartbeat time.Duration
	warning   string // why the head did not parse, if it did not
}

// readFleetRepo reads fleet.yaml, workloads/, groups/ and nodes/ of commit
// head. It parses them with spec.Parse; if the head does not parse (a PR
// merged with an error), it falls back to reading node labels and group
// selectors leniently, and says so in warning.
func readFleetRepo(s storer.EncodedObjectStorer, head plumbing.Hash) (*fleetRepo, error) {
	c, err := object.GetCommit(s, head)
	if err != nil {
		return nil, fmt.Errorf("read head %s: %w", short(head.String()), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read head %s: %w", short(head.String()), err)
	}
	fsys := fstest.MapFS{}
	if err := addFile(fsys, tree, "fleet.yaml"); err != nil {
		return nil, err
	}
	for _, dir := range []string{"workloads", "groups", "nodes"} {
		if err := addDir(fsys, tree, dir); err != nil {
			return nil, err
		}
	}
	repo, perr := spec.Parse(fsys)
	if perr == nil {
		return &fleetRepo{nodes: repo.Nodes, groups: repo.Groups, heartbeat: repo.Fleet.Spec.Status.Heartbeat.Duration}, nil
	}
	f := lenient(fsys)
	msg := perr.Error()
	n := strings.Count(msg, "\n") + 1
	first, _, _ := strings.Cut(msg, "\n")
	f.warning = fmt.Sprintf("the fleet repo at %s does not parse (%d errors; first: %s); labels and groups were read leniently", short(head.String()), n, first)
	return f, nil
}

// lenient reads what it can of nodes and groups, ignoring unknown fields
// and skipping files that do not decode.
func lenient(fsys fstest.MapFS) *fleetRepo {
	f := &fleetRepo{nodes: map[string]spec.Node{}, groups: map[string]spec.Group{}}
	var fl spec.Fleet
	if file, ok := fsys["fleet.yaml"]; ok && yaml.Unmarshal(file.Data, &fl) == nil {
		f.heartbeat = fl.Spec.Status.Heartbeat.Duration
	}
	for name, file := range fsys {
		dir, base := path.Split(name)
		base = strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
		switch dir {
		case "nodes/":
			var n spec.Node
			if yaml.Unmarshal(file.Data, &n) == nil {
				f.nodes[base] = n
			}
		case "groups/":
			var g spec.Group
			if yaml.Unmarshal(file.Data, &g) == nil {
				f.groups[base] = g
			}
		}
	}
	return f
}

func addDir(fsys fstest.MapFS, root *object.Tree, dir string) error {
	t, err := root.Tree(dir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range t.Entries {
		if e.Mode != filemode.Regular && e.Mode != filemode.Executable {
			continue
		}
		if !strings.HasSuffix(e.Name, ".yaml") && !strings.HasSuffix(e.Name, ".yml") {
			continue
		}
		if err := addBlob(fsys, t, dir+"/"+e.Name, e.Name); err != nil {
			return err
		}
	}
	return nil
}

func addFile(fsys fstest.MapFS, root *object.Tree, name string) error {
	if _, err := root.FindEntry(name); err != nil {
		return nil // spec.Parse reports the missing file
	}
	return addBlob(fsys, root, name, name)
}

func addBlob(fsys fstest.MapFS, t *object.Tree, full, name string) error {
	f, err := t.File(name)
	if err != nil {
		return fmt.Errorf("read %s: %w", full, err)
	}
	if f.Size > maxSpecFile {
		return nil // spec.Parse would refuse it; the overview does without
	}
	r, err := f.Reader()
	if err != nil {
		return fmt.Errorf("read %s: %w", full, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read %s: %w", full, err)
	}
	fsys[full] = &fstest.MapFile{Data: b, Mode: 0o644}
	return nil
}
