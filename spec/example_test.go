package spec_test

import (
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
)

const exampleRepo = "../examples/fleet-repo"

// TestExampleFleetRepo parses examples/fleet-repo, resolves every node, and
// checks that the agent's ParseForNode sees the same.
func TestExampleFleetRepo(t *testing.T) {
	fsys := os.DirFS(exampleRepo)
	repo, err := spec.Parse(fsys)
	if err != nil {
		t.Fatalf("examples/fleet-repo:\n%v", err)
	}
	if got := repo.Fleet.Metadata.Name; got != "plant-1" {
		t.Errorf("fleet name %q, want plant-1", got)
	}
	want := map[string][]string{
		"press-01": {"defect-classifier"},
		"press-02": {"defect-classifier"},
		"oven-01":  {"vibration-anomaly"},
		"oven-02":  {"defect-classifier", "vibration-anomaly"},
	}
	if got := slices.Sorted(maps.Keys(repo.Nodes)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("nodes %v, want %v", got, slices.Sorted(maps.Keys(want)))
	}
	resolved := map[string]map[string]spec.Desired{}
	for node, names := range want {
		ds, err := repo.Resolve(node, nil)
		if err != nil {
			t.Errorf("Resolve(%s): %v", node, err)
			continue
		}
		resolved[node] = map[string]spec.Desired{}
		var got []string
		for _, d := range ds {
			got = append(got, d.Name)
			resolved[node][d.Name] = d
		}
		if !slices.Equal(got, names) {
			t.Errorf("Resolve(%s) = %v, want %v", node, got, names)
		}

		one, err := spec.ParseForNode(fsys, node)
		if err != nil {
			t.Errorf("ParseForNode(%s): %v", node, err)
			continue
		}
		ds2, err := one.Resolve(node, nil)
		if err != nil || !reflect.DeepEqual(ds, ds2) {
			t.Errorf("ParseForNode(%s) resolves to %+v, %v; Parse to %+v", node, ds2, err, ds)
		}
	}
	if t.Failed() {
		return
	}
	press1 := resolved["press-01"]["defect-classifier"]
	press2 := resolved["press-02"]["defect-classifier"]
	if press1.Hash == press2.Hash {
		t.Error("press-02's override did not change the hash")
	}
	if got := press2.Spec.Resources.Memory; got != "128Mi" {
		t.Errorf("press-02 memory %q, want its override 128Mi", got)
	}
	if got := press2.Spec.Env; got["CAMERA"] != "hires" || got["MODEL_LOG_LEVEL"] != "info" {
		t.Errorf("press-02 env %v, want CAMERA merged into the workload's env", got)
	}
	if got := resolved["oven-01"]["vibration-anomaly"].Spec.Env["MODEL_LOG_LEVEL"]; got != "debug" {
		t.Errorf("oven-01 MODEL_LOG_LEVEL %q, want line-b's override debug", got)
	}
	if resolved["oven-02"]["defect-classifier"].Hash != press1.Hash {
		t.Error("oven-02 and press-01 run the same defect-classifier but hash it differently")
	}
	for _, d := range []spec.Desired{press1, resolved["oven-01"]["vibration-anomaly"]} {
		if !strings.HasPrefix(d.Spec.Image, "127.0.0.1:5000/models/"+d.Name+"@sha256:") {
			t.Errorf("%s image %q, want 127.0.0.1:5000/models/%s@sha256:…", d.Name, d.Spec.Image, d.Name)
		}
		if d.Spec.Health == nil || d.Spec.Health.HTTP == nil || d.Spec.Health.HTTP.Path != "/healthz" {
			t.Errorf("%s health %+v, want http /healthz", d.Name, d.Spec.Health)
		}
	}
}

// TestParseForNodeReadsOneNodeFile checks that the agent's parse does not
// grow with the fleet: of nodes/ it opens its own file and nothing else,
// not even the folder.
func TestParseForNodeReadsOneNodeFile(t *testing.T) {
	fsys := fstest.MapFS{}
	base := os.DirFS(exampleRepo)
	err := fs.WalkDir(base, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(base, p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		fsys["nodes/extra-"+strconv.Itoa(i)+".yaml"] = &fstest.MapFile{Data: []byte("not: [valid")}
	}
	rec := &recordFS{fsys: fsys}
	repo, err := spec.ParseForNode(rec, "press-02")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := repo.Nodes["press-02"]; !ok || len(repo.Nodes) != 1 {
		t.Errorf("Nodes = %v, want press-02 alone", slices.Collect(maps.Keys(repo.Nodes)))
	}
	for _, name := range rec.opened() {
		if (name == "nodes" || strings.HasPrefix(name, "nodes/")) && !strings.HasPrefix(name, "nodes/press-02.") {
			t.Errorf("ParseForNode opened %s", name)
		}
	}
}

func TestParseForNodeRejectsBadNames(t *testing.T) {
	for _, node := range []string{"", "../etc", "nodes/x", "Press-01", "a.b"} {
		if _, err := spec.ParseForNode(fstest.MapFS{}, node); err == nil {
			t.Errorf("ParseForNode(%q) succeeded, want an error", node)
		}
	}
}

// recordFS records the names opened through it.
type recordFS struct {
	fsys  fs.FS
	mu    sync.Mutex
	names []string
}

func (r *recordFS) Open(name string) (fs.File, error) {
	r.mu.Lock()
	r.names = append(r.names, name)
	r.mu.Unlock()
	return r.fsys.Open(name)
}

func (r *recordFS) opened() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}
