package plan

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// TestScanLoadChunksAsAFullParse: on a fleet parsed in several chunks, a
// plan equals the plan of a full parse of both revisions, and a head with
// invalid node files in two chunks is refused with the same errors.
func TestScanLoadChunksAsAFullParse(t *testing.T) {
	d := func(i int) string { return fmt.Sprintf("reg.example.com/m@sha256:%064d", i) }
	base, head := fleet10k(3*parallelNodes, "reg.example.com", d(1), d(2))
	node := func(i int, labels string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(fmt.Sprintf("apiVersion: %s\nkind: Node\nmetadata:\n  name: node-%05d\n  labels: %s\n", spec.APIVersion, i, labels))}
	}
	// A changed workload every group runs: every node file is kept, in
	// three chunks.
	head["workloads/detector.yaml"] = &fstest.MapFile{Data: append([]byte(nil), append(base["workloads/detector.yaml"].Data, []byte("  restart: never\n")...)...)}
	head["nodes/node-00007.yaml"] = node(7, "{line: l3}")
	head[fmt.Sprintf("nodes/node-%05d.yaml", 2*parallelNodes+1)] = node(2*parallelNodes+1, "{line: l4}")
	broken := maps.Clone(head)
	broken["nodes/node-00017.yaml"] = node(17, "{line: l3}\nspec: {workloads: [nope]}")
	broken[fmt.Sprintf("nodes/node-%05d.yaml", 2*parallelNodes+3)] = node(2*parallelNodes+3, "{line: l3}\nspec: {colour: red}")

	ctx := context.Background()
	b := Revision{Name: "b", FS: base}
	want, err := Compute(ctx, b, Revision{Name: "h", FS: head}, Options{parseAll: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Compute(ctx, b, Revision{Name: "h", FS: head}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	samePlan(t, got, want)
	if want.Summary.NodesChanged != 3*parallelNodes {
		t.Errorf("the change moves %d nodes, want all %d", want.Summary.NodesChanged, 3*parallelNodes)
	}

	_, werr := Compute(ctx, b, Revision{Name: "h", FS: broken}, Options{parseAll: true})
	_, gerr := Compute(ctx, b, Revision{Name: "h", FS: broken}, Options{})
	if werr == nil || gerr == nil {
		t.Fatalf("errors: %v; a full parse: %v", gerr, werr)
	}
	wf, _ := Findings(werr)
	gf, _ := Findings(gerr)
	if len(wf) < 2 || fmt.Sprint(gf) != fmt.Sprint(wf) {
		t.Errorf("errors:\n%v\na full parse's:\n%v", gf, wf)
	}
}

// filesFS is a MapFS that reads many files together (FilesReader): the
// regular files of names, as source's git trees read them from packs.
type filesFS struct {
	fstest.MapFS
	files int // read by ReadFiles
}

func (f *filesFS) ReadFiles(dir string, names []string) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		if m, ok := f.MapFS[dir+"/"+n]; ok && m.Mode.IsRegular() {
			out[i] = append([]byte{}, m.Data...)
			f.files++
		}
	}
	return out
}
