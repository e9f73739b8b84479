package review

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

// TestLoadMatchesParse: Load, which parses nodes/ in chunks, returns what
// spec.Parse returns, errors included (once each, in spec's order).
func TestLoadMatchesParse(t *testing.T) {
	d := "@sha256:" + fmt.Sprintf("%064d", 7)
	base, _ := fleet10k(2000, "registry.example.com", "registry.example.com/m"+d, "registry.example.com/m"+d)
	r, err := Load(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Nodes) != 2000 {
		t.Fatalf("nodes = %d", len(r.Nodes))
	}
	broken := fstest.MapFS{}
	for k, v := range base {
		broken[k] = v
	}
	broken["nodes/node-00017.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: node-00017, labelz: {}}\n")}
	broken["nodes/node-01999.yml"] = &fstest.MapFile{Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: node-01999}\n")}
	broken["workloads/detector.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: detector}\nspec: {image: x}\n")}
	_, want := spec.Parse(broken)
	_, got := Load(broken)
	if want == nil || got == nil || got.Error() != want.Error() {
		t.Errorf("Load error:\n%v\nspec.Parse error:\n%v", got, want)
	}
	var se *spec.Error
	if !errors.As(got, &se) {
		t.Errorf("Load error holds no *spec.Error")
	}
}

// fakeManifests serves layers from a map and counts calls.
type fakeManifests struct {
	layers map[string][]Layer
	calls  int
}

func (f *fakeManifests) Layers(_ context.Context, ref string) ([]Layer, error) {
	f.calls++
	l, ok := f.layers[digestOf(ref)]
	if !ok {
		return nil, errors.New("unreachable")
	}
	return l, nil
}

// TestCompute plans the 10k fixture at a small size: only the nodes of
// group line-3 change, each downloads the new image's layers it lacks,
// and each manifest is read once.
func TestCompute(t *testing.T) {
	d := func(i int) string { return fmt.Sprintf("sha256:%064d", i) }
	oldRef, newRef := "reg.example.com/m@"+d(1), "reg.example.com/m@"+d(2)
	base, head := fleet10k(100, "reg.example.com", oldRef, newRef)
	m := &fakeManifests{layers: map[string][]Layer{
		d(1): {{Digest: "sha256:shared", Size: 1000}, {Digest: "sha256:old", Size: 10}},
		d(2): {{Digest: "sha256:shared", Size: 1000}, {Digest: "sha256:new", Size: 20}},
	}}
	p, err := Compute(context.Background(), Revision{Name: "b", FS: base}, Revision{Name: "h", FS: head}, Options{Manifests: m})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Nodes: 100, NodesChanged: 10, WorkloadsChanged: 10, DownloadBytes: 200, DownloadComplete: true}
	if p.Summary != want {
		t.Errorf("summary = %+v, want %+v", p.Summary, want)
	}
	if m.calls != 2 {
		t.Errorf("manifest reads = %d, want 2", m.calls)
	}
	if n := p.Nodes[0]; n.Name != "node-00003" || len(n.Changed) != 1 || n.Changed[0].Fields[0].Field != "image" || n.Changed[0].Fields[0].New != newRef {
		t.Errorf("first node = %+v", n)
	}
	// An unreachable registry leaves the size unknown, not the plan.
	delete(m.layers, d(2))
	p, err = Compute(context.Background(), Revision{Name: "b", FS: base}, Revision{Name: "h", FS: head}, Options{Manifests: m})
	if err != nil {
		t.Fatal(err)
	}
	if p.Summary.DownloadComplete || p.Summary.NodesChanged != 10 || p.Images[0].Error == "" {
		t.Errorf("unreachable: %+v %+v", p.Summary, p.Images)
	}
	// No change, no plan.
	p, err = Compute(context.Background(), Revision{Name: "b", FS: base}, Revision{Name: "b", FS: base}, Options{})
	if err != nil || len(p.Nodes) != 0 {
		t.Errorf("same revision: %v, %d nodes", err, len(p.Nodes))
	}
}
