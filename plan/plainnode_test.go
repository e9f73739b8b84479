package plan

import (
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// TestSimpleNodePlanAsAFullParse: plans over fleets whose node files mix
// what spec.PlainNode reads and what it leaves to spec.Parse (quoted labels,
// anchors, flow and block styles, a.yaml beside a.yml, an invalid file,
// nodes with their own workloads and overrides) equal the plans without
// any shortcut.
func TestSimpleNodePlanAsAFullParse(t *testing.T) {
	d := func(i int) string { return fmt.Sprintf("reg.example.com/m@sha256:%064d", i) }
	base, _ := fleet10k(200, "reg.example.com", d(1), d(2))
	node := func(name, body string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata:\n  name: %s\n%s", spec.APIVersion, name, body))}
	}
	base["nodes/q.yaml"] = node("q", "  labels: {'line': \"l3\"}\n")
	base["nodes/anchor.yaml"] = node("anchor", "  labels: &l {line: l3}\n")
	base["nodes/block.yaml"] = node("block", "  labels:\n    line: l3\n    site: plant-9\n")
	base["nodes/own.yaml"] = node("own", "  labels: {line: l3}\nspec:\n  overrides:\n    detector: {env: {A: b}}\n")
	group := func(i int, extra string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Group\nmetadata: {name: line-%d}\nspec:\n  selector: {matchLabels: {line: l%d}}\n  workloads: [detector]\n%s", spec.APIVersion, i, i, extra))}
	}
	edit := func(edits ...func(fstest.MapFS)) fstest.MapFS {
		h := fstest.MapFS{}
		for k, v := range base {
			h[k] = v
		}
		for _, e := range edits {
			e(h)
		}
		return h
	}
	override := func(h fstest.MapFS) {
		h["groups/line-3.yaml"] = group(3, "  overrides:\n    detector: {env: {LOG_LEVEL: debug}}\n")
	}
	moveNodes := func(h fstest.MapFS) {
		for i := 0; i < 200; i += 9 {
			h[fmt.Sprintf("nodes/node-%05d.yaml", i)] = node(fmt.Sprintf("node-%05d", i), "  labels:\n    line: l3\n")
		}
		h["nodes/q.yaml"] = node("q", "  labels: {line: l4}\n")
		h["nodes/new.yaml"] = node("new", "  labels: {line: l3}\n")
		delete(h, "nodes/node-00005.yaml")
	}
	cases := map[string]fstest.MapFS{
		"group override": edit(override),
		"node files":     edit(moveNodes),
		"both":           edit(override, moveNodes),
		"fleet.yaml": edit(func(h fstest.MapFS) {
			h["fleet.yaml"] = &fstest.MapFile{Data: append([]byte(nil), append(base["fleet.yaml"].Data, []byte("  pollInterval: 1m\n")...)...)}
		}, moveNodes),
		"a.yaml and a.yml": edit(moveNodes, func(h fstest.MapFS) {
			h["nodes/node-00009.yml"] = node("node-00009", "  labels: {line: l3}\n")
		}),
		"invalid node file": edit(override, func(h fstest.MapFS) {
			h["nodes/node-00003.yaml"] = node("node-00003", "  labels: {line: l3, bad: -x}\n")
		}),
		"invalid unchanged file": edit(override),
	}
	// An invalid node file at base and head alike, selected by the group
	// that changes.
	cases["invalid unchanged file"]["nodes/node-00013.yaml"] = node("node-00013", "  labels: {line: l3, site: yes}\n")
	baseInvalid := edit(func(h fstest.MapFS) {
		h["nodes/node-00013.yaml"] = cases["invalid unchanged file"]["nodes/node-00013.yaml"]
	})
	for name, head := range cases {
		t.Run(name, func(t *testing.T) {
			bfs := base
			if name == "invalid unchanged file" {
				bfs = baseInvalid
			}
			// As files, and with content ids as a git tree has them.
			for _, ids := range []bool{false, true} {
				b, h := Revision{Name: "b", FS: bfs}, Revision{Name: "h", FS: head}
				if ids {
					b.FS, h.FS = newHashFS(bfs), newHashFS(head)
				}
				want, werr := Compute(t.Context(), b, h, Options{parseAll: true})
				got, gerr := Compute(t.Context(), b, h, Options{})
				if (werr == nil) != (gerr == nil) {
					t.Fatalf("errors: %v; without shortcuts: %v", gerr, werr)
				}
				if werr != nil {
					if werr.Error() != gerr.Error() {
						t.Errorf("error %v; without shortcuts: %v", gerr, werr)
					}
					continue
				}
				samePlan(t, got, want)
				if want.Summary.NodesChanged == 0 && len(want.Errors) == 0 {
					t.Errorf("the case changes no node: %+v", want.Summary)
				}
			}
		})
	}
}
