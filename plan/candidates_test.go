package plan

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// TestCandidatesPlanAsAFullParse: a plan that parses only the node files
// that may be affected equals the plan that parses every one, for changes
// that reach nodes through their files, groups, workloads and fleet.yaml,
// with node files that write their labels in every YAML form (block,
// flow, quoted keys and values, a value on the next line, JSON, anchors),
// and groups with rollout waves.
func TestCandidatesPlanAsAFullParse(t *testing.T) {
	d := func(i int) string { return fmt.Sprintf("reg.example.com/m@sha256:%064d", i) }
	base, _ := fleet10k(300, "reg.example.com", d(1), d(2))
	node := func(name, body string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata:\n  name: %s\n%s", spec.APIVersion, name, body))}
	}
	// Nodes of line l3 written every way YAML allows.
	base["nodes/odd-block.yaml"] = node("odd-block", "  labels:\n    line: l3\n")
	base["nodes/odd-quoted.yaml"] = node("odd-quoted", "  labels: {'line': \"l3\"}\n")
	base["nodes/odd-nextline.yaml"] = node("odd-nextline", "  labels:\n    line:\n      l3\n")
	base["nodes/odd-comment.yaml"] = node("odd-comment", "  labels: # where\n    line: l3 # the press\n")
	base["nodes/odd-anchor.yaml"] = node("odd-anchor", "  labels: &l {line: l3}\n")
	base["nodes/odd-json.yml"] = &fstest.MapFile{Data: []byte(`{"apiVersion": "` + spec.APIVersion + `", "kind": "Node", "metadata": {"name": "odd-json", "labels": {"line":"l3"}}}` + "\n")}
	base["nodes/odd-other.yaml"] = node("odd-other", "  labels: {line: l33, site: l3}\n")
	group := func(i int, extra string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Group\nmetadata: {name: line-%d}\nspec:\n  selector: {matchLabels: {line: l%d}}\n  workloads: [detector]\n%s", spec.APIVersion, i, i, extra))}
	}
	change := func(edit func(fstest.MapFS)) fstest.MapFS {
		h := maps.Clone(base)
		edit(h)
		return h
	}
	workload := func(img string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Workload\nmetadata: {name: detector}\nspec:\n  image: %s\n  ports: [8080]\n", spec.APIVersion, img))}
	}
	cases := map[string]fstest.MapFS{
		"group override": change(func(h fstest.MapFS) {
			h["groups/line-3.yaml"] = group(3, "  overrides:\n    detector: {image: "+d(2)+"}\n")
		}),
		"group selector": change(func(h fstest.MapFS) {
			h["groups/line-3.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Group\nmetadata: {name: line-3}\nspec:\n  selector: {matchLabels: {site: plant-2}}\n  workloads: [detector]\n", spec.APIVersion))}
		}),
		"node files": change(func(h fstest.MapFS) {
			for i := 0; i < 300; i += 7 {
				h[fmt.Sprintf("nodes/node-%05d.yaml", i)] = node(fmt.Sprintf("node-%05d", i), "  labels: {line: l4}\n")
			}
			delete(h, "nodes/node-00011.yaml")
			h["nodes/new.yaml"] = node("new", "  labels: {line: l3}\n")
		}),
		"workload": change(func(h fstest.MapFS) { h["workloads/detector.yaml"] = workload(d(3)) }),
		"fleet.yaml": change(func(h fstest.MapFS) {
			h["fleet.yaml"] = &fstest.MapFile{Data: append([]byte(nil), append(base["fleet.yaml"].Data, []byte("  pollInterval: 1m\n")...)...)}
		}),
		"rollout waves": change(func(h fstest.MapFS) {
			h["groups/line-3.yaml"] = group(3, "  overrides:\n    detector: {image: "+d(2)+"}\n  rollout:\n    waves:\n      - {name: canary, percent: 10}\n      - {name: rest, percent: 100}\n")
		}),
	}
	// The filter does leave nodes out: for the override of line-3, those
	// of other lines, and keeps every node of line l3 however written.
	dif, err := newDiffer(Revision{FS: base}, Revision{FS: cases["group override"]})
	if err != nil {
		t.Fatal(err)
	}
	repo, hidden, _, err := loadHead(Revision{FS: base}, Revision{FS: cases["group override"]}, dif, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hidden < 250 {
		t.Errorf("%d node files left out, want the ~270 of other lines", hidden)
	}
	for _, n := range []string{"odd-block", "odd-quoted", "odd-nextline", "odd-comment", "odd-anchor", "odd-json", "node-00003"} {
		if _, ok := repo.Nodes[n]; !ok {
			t.Errorf("%s (line l3) was left out", n)
		}
	}
	for name, head := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b, h := Revision{Name: "b", FS: base}, Revision{Name: "h", FS: head}
			want, werr := Compute(ctx, b, h, Options{parseAll: true})
			got, gerr := Compute(ctx, b, h, Options{})
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("errors: %v; a full parse: %v", gerr, werr)
			}
			if werr != nil {
				if werr.Error() != gerr.Error() {
					t.Errorf("error %v; a full parse: %v", gerr, werr)
				}
				return
			}
			samePlan(t, got, want)
			// Node files read together (FilesReader), as from git's packs.
			fb, fh := &filesFS{MapFS: base}, &filesFS{MapFS: head}
			got, gerr = Compute(ctx, Revision{Name: "b", FS: fb}, Revision{Name: "h", FS: fh}, Options{})
			if gerr != nil {
				t.Fatal(gerr)
			}
			samePlan(t, got, want)
			if fh.files == 0 {
				t.Error("no file read with ReadFiles")
			}
			if want.Summary.NodesChanged == 0 && name != "fleet.yaml" {
				t.Errorf("the case changes no node: %+v", want.Summary)
			}
		})
	}
}
