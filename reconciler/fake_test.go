package reconciler

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"testing/fstest"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// fakeSource serves revisions from memory and counts calls.
type fakeSource struct {
	head    string
	headErr error
	trees   map[string]fstest.MapFS
	// other serves revisions as any fs.FS, before trees.
	other map[string]fs.FS
	treeN int
}

func (s *fakeSource) Head(context.Context) (string, error) { return s.head, s.headErr }

func (s *fakeSource) Tree(_ context.Context, rev string) (fs.FS, error) {
	s.treeN++
	if f, ok := s.other[rev]; ok {
		return f, nil
	}
	t, ok := s.trees[rev]
	if !ok {
		return nil, fmt.Errorf("no revision %s", rev)
	}
	return t, nil
}

// fakeRuntime is a scripted runtime: it keeps containers in a map.
type fakeRuntime struct {
	mu      sync.Mutex
	byName  map[string]status.Instance
	pulled  []string
	pullErr error
	runErr  map[string]error // by spec hash
	runs    int
	pid     uint32
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{byName: map[string]status.Instance{}, runErr: map[string]error{}}
}

func (f *fakeRuntime) List(context.Context) ([]status.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []status.Instance
	for _, in := range f.byName {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workload < out[j].Workload })
	return out, nil
}

func (f *fakeRuntime) Pull(_ context.Context, ref string, _ []spec.Registry) error {
	if f.pullErr != nil {
		return f.pullErr
	}
	f.pulled = append(f.pulled, ref)
	return nil
}

func (f *fakeRuntime) Run(_ context.Context, d spec.Desired, rev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.runErr[d.Hash]; err != nil {
		return err
	}
	f.runs++
	f.pid++
	f.byName[d.Name] = status.Instance{Workload: d.Name, ID: d.Name + "-" + d.Hash[7:19], SpecHash: d.Hash,
		Revision: rev, Image: d.Spec.Image, State: status.StateRunning, PID: f.pid}
	return nil
}

// Retire has nothing to do: the fake keeps one container per workload.
func (f *fakeRuntime) Retire(context.Context, string, string) error { return nil }

func (f *fakeRuntime) Remove(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byName, name)
	return nil
}

func (f *fakeRuntime) get(name string) (status.Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.byName[name]
	return in, ok
}

// fakeReporter keeps every report.
type fakeReporter struct{ reports []*status.NodeStatus }

func (r *fakeReporter) Report(_ context.Context, st *status.NodeStatus) error {
	r.reports = append(r.reports, st)
	return nil
}

func (r *fakeReporter) last() *status.NodeStatus { return r.reports[len(r.reports)-1] }

const fleetYAML = `apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: test}
spec:
  pollInterval: 10s
  registries: [{host: "127.0.0.1:5000", plainHTTP: true}]
`

// digest makes a valid-looking image digest from a short name.
func digest(s string) string {
	return "127.0.0.1:5000/models/m@sha256:" + strings.Repeat(fmt.Sprintf("%x", s[0]%16), 64)
}

func workloadYAML(name, image, env string) string {
	return fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: %s}
spec:
  image: %s
  env: {LEVEL: %s}
`, name, image, env)
}

// tree builds a fleet repo where one group selects every node and runs names.
func tree(workloads map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{"fleet.yaml": {Data: []byte(fleetYAML)}}
	var names []string
	for name, y := range workloads {
		fsys["workloads/"+name+".yaml"] = &fstest.MapFile{Data: []byte(y)}
		names = append(names, name)
	}
	sort.Strings(names)
	fsys["groups/all.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: all}
spec:
  selector: {}
  workloads: [%s]
`, strings.Join(names, ", ")))}
	return fsys
}
