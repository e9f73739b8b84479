package runtime

import (
	"context"

	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/snapshots"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// list returns e's instances.
func (e *env) list(t *testing.T) []status.Instance {
	t.Helper()
	ins, err := e.c.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

// run runs d.
func (e *env) run(t *testing.T, d spec.Desired, rev string) {
	t.Helper()
	if err := e.c.Run(t.Context(), d, rev); err != nil {
		t.Fatal(err)
	}
}

// only returns the single instance of e, failing unless there is exactly one
// and it runs d's hash.
func (e *env) only(t *testing.T, d spec.Desired) status.Instance {
	t.Helper()
	ins := e.list(t)
	if len(ins) != 1 || ins[0].SpecHash != d.Hash || ins[0].Workload != d.Name {
		t.Fatalf("List = %+v, want one instance of %s with hash %s", ins, d.Name, d.Hash)
	}
	return ins[0]
}

func TestRunSeesArgsEnvMountsAndLimits(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "model.bin"), []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := desired("detector", port, map[string]string{"SPEC_ENV": "from-spec", "SHARED": "spec"})
	d.Spec.Mounts = []spec.Mount{{Source: host, Target: "/models", ReadOnly: true}}
	d.Spec.Resources = spec.Resources{Memory: "64Mi", CPU: "500m"}
	d = withHash(d.Name, d.Spec)
	d.HostPaths = []string{host}
	e.run(t, d, "rev1")

	if _, body := get(t, port, "/args"); !strings.HasPrefix(body, "/echo\n--port\n") || strings.Contains(body, "8080") {
		t.Errorf("args seen:\n%s\nwant the entrypoint with the spec's args in place of CMD", body)
	}
	_, body := get(t, port, "/env")
	for _, want := range []string{"IMAGE_ENV=from-image", "SPEC_ENV=from-spec", "SHARED=spec"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("env seen:\n%s\nwant %s", body, want)
		}
	}
	if strings.Contains(body, "SHARED=image") {
		t.Errorf("env seen:\n%s\nthe spec's SHARED must replace the image's", body)
	}
	if code, body := get(t, port, "/read?path=/models/model.bin"); code != http.StatusOK || body != "weights" {
		t.Errorf("read mounted file: %d %q, want 200 weights", code, body)
	}
	if code, body := get(t, port, "/write?path=/models/new"); code == http.StatusOK || !strings.Contains(body, "read-only") {
		t.Errorf("write to read-only mount: %d %q, want a read-only error", code, body)
	}
	if _, err := os.Stat(filepath.Join(host, "new")); err == nil {
		t.Error("the container wrote into a read-only mount")
	}

	in := e.only(t, d)
	if in.State != status.StateRunning || in.PID == 0 || in.Revision != "rev1" || in.Image != echo.ref || in.StartedAt.IsZero() {
		t.Errorf("instance %+v, want running with PID, revision rev1, image %s and start time", in, echo.ref)
	}
	if want := "detector-" + strings.TrimPrefix(d.Hash, "sha256:")[:12] + "-"; !strings.HasPrefix(in.ID, want) {
		t.Errorf("ID = %s, want %s<attempt>", in.ID, want)
	}
	ctr, err := e.c.client.LoadContainer(e.c.ns(t.Context()), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ctr.Spec(e.c.ns(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	res := s.Linux.Resources
	if res.Memory == nil || res.Memory.Limit == nil || *res.Memory.Limit != 64<<20 {
		t.Errorf("memory limit %+v, want %d", res.Memory, 64<<20)
	}
	if res.CPU == nil || res.CPU.Quota == nil || res.CPU.Period == nil || *res.CPU.Quota != 50_000 || *res.CPU.Period != 100_000 {
		t.Errorf("CPU %+v, want quota 50000 period 100000", res.CPU)
	}
	if ns := namespaceOf(s, "network"); ns == nil || ns.Path != e.c.netnsPath(in.ID) {
		t.Errorf("network namespace %+v, want the isolated one at %s", ns, e.c.netnsPath(in.ID))
	}
	if b, err := os.ReadFile(memLimitFile(s.Linux.CgroupsPath)); err != nil {
		t.Errorf("cgroup memory limit: %v", err)
	} else if strings.TrimSpace(string(b)) != "67108864" {
		t.Errorf("cgroup memory limit %s, want 67108864", b)
	}

	// The shim writes the output to the log file on its own time.
	waitFor(t, "the workload's output in "+e.c.Logs("detector"), func() bool {
		logs, _ := os.ReadFile(e.c.Logs("detector"))
		return strings.Contains(string(logs), "env SPEC_ENV=from-spec")
	})
}

// memLimitFile is the cgroup v1 or v2 file of a cgroup's memory limit.
func memLimitFile(cgroup string) string {
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		return filepath.Join("/sys/fs/cgroup/memory", cgroup, "memory.limit_in_bytes")
	}
	return filepath.Join("/sys/fs/cgroup", cgroup, "memory.max")
}

func TestRunIdempotentReplaceRemove(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	v1 := desired("detector", port, map[string]string{"VERSION": "1"})
	e.run(t, v1, "rev1")
	first := e.only(t, v1)

	e.run(t, v1, "rev1")
	if again := e.only(t, v1); again.PID != first.PID || again.ID != first.ID {
		t.Errorf("Run with the same hash: %+v, want %+v untouched", again, first)
	}

	// New hash on another port: the old one keeps serving until retired.
	port2 := porttest.Port(t)
	v2 := desired("detector", port2, map[string]string{"VERSION": "2"})
	e.run(t, v2, "rev2")
	if ins := e.list(t); len(ins) != 2 {
		t.Fatalf("after starting v2 on another port: %+v; want v1 still serving beside it", ins)
	}
	if code, _ := get(t, port, "/env"); code != 200 {
		t.Errorf("v1 stopped answering before it was retired: %d", code)
	}
	if err := e.c.Retire(t.Context(), "detector", v2.Hash); err != nil {
		t.Fatal(err)
	}
	if in := e.only(t, v2); in.State != status.StateRunning || in.Revision != "rev2" {
		t.Errorf("after retire: %+v", in)
	}
	if _, body := get(t, port2, "/env"); !strings.Contains(body, "VERSION=2\n") {
		t.Errorf("new version env:\n%s", body)
	}

	// New hash on the same port: the old one stops first.
	v3 := desired("detector", port2, map[string]string{"VERSION": "3"})
	e.run(t, v3, "rev3")
	e.only(t, v3)
	if _, body := get(t, port2, "/env"); !strings.Contains(body, "VERSION=3\n") {
		t.Errorf("same-port replacement env:\n%s", body)
	}
	waitFor(t, "one shim", func() bool { return shims(t, e.d) == 1 })

	if err := e.c.Remove(t.Context(), "detector"); err != nil {
		t.Fatal(err)
	}
	if ins := e.list(t); len(ins) != 0 {
		t.Errorf("List after Remove = %+v, want none", ins)
	}
	if err := e.c.Remove(t.Context(), "detector"); err != nil {
		t.Errorf("Remove of a missing workload: %v", err)
	}
	var snaps int
	err := e.c.client.SnapshotService(e.c.cfg.Snapshotter).Walk(e.c.ns(t.Context()), func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive {
			snaps++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if snaps != 0 {
		t.Errorf("%d active snapshots after Remove, want 0", snaps)
	}
	waitFor(t, "no shim", func() bool { return shims(t, e.d) == 0 })
}

// Run and Remove refuse what they cannot do safely and leave nothing behind.
func TestRunRefusesBadInput(t *testing.T) {
	e := setup(t)
	if err := e.c.Remove(t.Context(), "../etc"); err == nil {
		t.Error("Remove accepted a workload name with a path in it")
	}
	d := desired("detector", porttest.Port(t), nil)
	d.Spec.Image = reg.host + "/test/echo:latest"
	if err := e.c.Run(t.Context(), d, "rev"); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("Run of a tagged image: %v, want refused", err)
	}
	d = desired("detector", porttest.Port(t), nil)
	if err := e.c.Run(t.Context(), d, "rev"); err == nil || !strings.Contains(err.Error(), echo.ref) {
		t.Errorf("Run of an image not pulled: %v, want an error naming it", err)
	}
	if ins := e.list(t); len(ins) != 0 {
		t.Errorf("List after failed runs = %+v, want none", ins)
	}
}

// A replacement that cannot be created leaves the running version alone.
func TestRunFailedReplacementKeepsOld(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	v1 := desired("detector", port, map[string]string{"VERSION": "1"})
	e.run(t, v1, "rev1")
	before := e.only(t, v1)

	v2 := desired("detector", port, map[string]string{"VERSION": "2"})
	hostDir := t.TempDir()
	v2.Spec.Mounts = []spec.Mount{{Source: filepath.Join(hostDir, "missing"), Target: "/models"}}
	v2 = withHash(v2.Name, v2.Spec)
	v2.HostPaths = []string{hostDir}
	err := e.c.Run(t.Context(), v2, "rev2")
	if err == nil || !strings.Contains(err.Error(), "run detector") {
		t.Fatalf("Run with a missing mount source: %v, want an error naming the workload", err)
	}
	t.Log(err)
	if in := e.only(t, v1); in.State != status.StateRunning || in.PID != before.PID {
		t.Errorf("after a failed replacement: %+v, want %+v still running", in, before)
	}
	if _, body := get(t, port, "/env"); !strings.Contains(body, "VERSION=1\n") {
		t.Errorf("env after a failed replacement:\n%s", body)
	}
}

// namespaceOf returns s's namespace of type typ, nil when it shares the
// host's.
func namespaceOf(s *specs.Spec, typ specs.LinuxNamespaceType) *specs.LinuxNamespace {
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == typ {
			return &s.Linux.Namespaces[i]
		}
	}
	return nil
}
