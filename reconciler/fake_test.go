package reconciler

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/gitfleet/gitfleet/fault"
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

// fakeRuntime is a scripted runtime that keeps the contract of
// reconcilertest.TestRuntime (fake_contract_test.go runs it): containers by
// ID, a workload's old version serving beside the new one until Retire
// unless their ports clash, images listed in broken unable to start.
type fakeRuntime struct {
	mu      sync.Mutex
	ctrs    map[string]fakeContainer // by ID
	pulled  []spec.ImageSource       // the sources pulls succeeded from
	tried   []spec.ImageSource       // every source a pull was asked of
	pullErr error
	// pullErrAt fails pulls from one host.
	pullErrAt map[string]error
	runErr    map[string]error // by spec hash
	broken    map[string]bool  // images whose process cannot start
	// lost: spec hashes whose container Run leaves stopped although it
	// returns nil, as a containerd killed and restarted behind it can.
	lost map[string]bool
	// listFails, when set, is asked before each List with the call's
	// number (from 1); a non-nil error fails that List.
	listFails func(call int) error
	lists     int
	runs      int
	pid       uint32
}

type fakeContainer struct {
	in    status.Instance
	ports []int
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{ctrs: map[string]fakeContainer{}, runErr: map[string]error{}, broken: map[string]bool{}, lost: map[string]bool{}}
}

// fakeID is a container's ID: the workload and its spec hash.
func fakeID(d spec.Desired) string {
	h := strings.TrimPrefix(d.Hash, "sha256:")
	return d.Name + "-" + h[:min(12, len(h))]
}

func (f *fakeRuntime) List(context.Context) ([]status.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.listFails != nil {
		if err := f.listFails(f.lists); err != nil {
			return nil, err
		}
	}
	out := make([]status.Instance, 0, len(f.ctrs))
	for _, c := range f.ctrs {
		out = append(out, c.in)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workload != out[j].Workload {
			return out[i].Workload < out[j].Workload
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (f *fakeRuntime) Pull(_ context.Context, src spec.ImageSource) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tried = append(f.tried, src)
	if err := f.pullErrAt[src.Host]; err != nil {
		return err
	}
	if f.pullErr != nil {
		return f.pullErr
	}
	if src.Digest == "" || src.Image.Digest != src.Digest {
		return fmt.Errorf("pull %s: not pinned by digest", src.Image)
	}
	f.pulled = append(f.pulled, src)
	return nil
}

// Run leaves a running container of d's spec alone; otherwise it removes
// the workload's containers whose ports clash with d's and starts d.
func (f *fakeRuntime) Run(_ context.Context, d spec.Desired, rev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.runErr[d.Hash]; err != nil {
		return err
	}
	if f.broken[d.Spec.Image] {
		return fault.Refuse(d.Name, fmt.Errorf("run %s: OCI runtime create failed: exec: no such file or directory", d.Name))
	}
	id := fakeID(d)
	if c, ok := f.ctrs[id]; ok && c.in.State == status.StateRunning && c.in.SpecHash == d.Hash {
		return nil
	}
	delete(f.ctrs, id)
	for cid, c := range f.ctrs {
		if c.in.Workload == d.Name && slices.ContainsFunc(c.ports, func(p int) bool { return slices.Contains(d.Spec.Ports, p) }) {
			delete(f.ctrs, cid)
		}
	}
	f.runs++
	f.pid++
	f.ctrs[id] = fakeContainer{ports: d.Spec.Ports, in: status.Instance{Workload: d.Name, ID: id, SpecHash: d.Hash,
		Revision: rev, Image: d.Spec.Image, State: status.StateRunning, PID: f.pid,
		// Its start is recorded, as the real runtime's started-at label.
		StartedAt: time.Unix(int64(f.pid), 0)}}
	if f.lost[d.Hash] {
		c := f.ctrs[id]
		c.in.State, c.in.ExitCode, c.in.StartedAt = status.StateStopped, 137, time.Time{}
		f.ctrs[id] = c
	}
	return nil
}

// Retire removes the workload's containers but keep's.
func (f *fakeRuntime) Retire(_ context.Context, workload, keep string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	keepID := fakeID(spec.Desired{Name: workload, Hash: keep})
	for id, c := range f.ctrs {
		if c.in.Workload == workload && id != keepID {
			delete(f.ctrs, id)
		}
	}
	return nil
}

func (f *fakeRuntime) Remove(_ context.Context, workload string) error {
	f.drop(workload)
	return nil
}

// drop deletes every container of workload, as a person might by hand.
func (f *fakeRuntime) drop(workload string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.ctrs {
		if c.in.Workload == workload {
			delete(f.ctrs, id)
		}
	}
}

// get returns the workload's newest container.
func (f *fakeRuntime) get(name string) (status.Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var newest status.Instance
	found := false
	for _, c := range f.ctrs {
		if c.in.Workload == name && (!found || c.in.PID > newest.PID) {
			newest, found = c.in, true
		}
	}
	return newest, found
}

// set replaces the container in.ID with in, as a change by hand or an exit
// would.
func (f *fakeRuntime) set(in status.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.ctrs[in.ID]
	c.in = in
	f.ctrs[in.ID] = c
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
