package plan

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

func (f *fakeManifests) Layers(_ context.Context, ref string, _ []spec.Registry) ([]Layer, error) {
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

// TestComputeWaves: a plan names the rollout wave of each node that
// changes, and its note says the change is gated.
func TestComputeWaves(t *testing.T) {
	const digest = "@sha256:cdbf25ce24ed4527fed4bfc09f1a23c684b3f55c38f2f6493ec19f8907177e95"
	repo := func(env string) fstest.MapFS {
		fsys := fstest.MapFS{
			"fleet.yaml":         {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\n")},
			"workloads/app.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: app}\nspec:\n  image: r.example/app" + digest + "\n  env: {V: \"" + env + "\"}\n")},
			"groups/line-a.yaml": {Data: []byte(`apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: line-a}
spec:
  selector: {matchLabels: {line: a}}
  workloads: [app]
  rollout:
    waves: [{name: canary, selector: {matchLabels: {canary: "true"}}}, {name: rest}]
`)},
			"groups/line-b.yaml": {Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-b}\nspec:\n  selector: {matchLabels: {line: b}}\n  workloads: [app]\n")},
		}
		for name, labels := range map[string]string{"a1": "{line: a, canary: \"true\"}", "a2": "{line: a}", "b1": "{line: b}"} {
			fsys["nodes/"+name+".yaml"] = &fstest.MapFile{Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: " + name + ", labels: " + labels + "}\n")}
		}
		return fsys
	}
	p, err := Compute(context.Background(), Revision{Name: "b", FS: repo("1")}, Revision{Name: "h", FS: repo("2")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range p.Nodes {
		got[n.Name] = fmt.Sprint(n.Waves)
	}
	want := map[string]string{"a1": "[{line-a canary 0}]", "a2": "[{line-a rest 1}]", "b1": "[]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waves = %v, want %v", got, want)
	}
	var b strings.Builder
	if err := p.Text(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"a1: 1 changed, download 0 B, wave 1 canary of line-a\n", "a2: 1 changed, download 0 B, wave 2 rest of line-a\n", "b1: 1 changed, download 0 B\n", "note: Rollout waves: a node in a wave"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("plan text lacks %q:\n%s", line, b.String())
		}
	}
}
