package runtime

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// What an agent leaves on the host when its containerd goes away with its
// workloads still there (a test's private daemon, a reconfigured node) is
// undone by the next agent that shares the RunDir: the mapped port serves
// the new workload, and nothing of the old one stays mounted.
func TestLeftoversOfAGoneContainerdAreSwept(t *testing.T) {
	runDir := t.TempDir()
	t.Cleanup(func() { unmountBelow(t, runDir) })
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "weights"), []byte("w1"), 0o644); err != nil {
		t.Fatal(err)
	}
	connect := func(d *runtimetest.Daemon) *Containerd {
		c, err := New(t.Context(), Config{Address: d.Address, LogDir: t.TempDir(), RunDir: runDir, StopTimeout: 5 * time.Second},
			slog.New(slog.NewTextHandler(t.Output(), nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Pull(t.Context(), source(t, echo.ref, registries())); err != nil {
			t.Fatal(err)
		}
		return c
	}
	port := porttest.Port(t)
	w := desired("model", port, map[string]string{"GENERATION": "old"})
	w.Spec.Mounts = []spec.Mount{{Source: hostDir, Target: "/data", ReadOnly: true}}
	w = withHash(w.Name, w.Spec)
	w.HostPaths = []string{hostDir}

	old := runtimetest.StartT(t)
	c := connect(old)
	if err := c.Run(t.Context(), w, "rev1"); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, port, "/env"); !strings.Contains(body, "GENERATION=old") {
		t.Fatalf("old workload env:\n%s", body)
	}
	// The daemon goes away; nobody removes the workload the agent's way.
	if err := old.Stop(); err != nil {
		t.Fatal(err)
	}
	c.Close()

	fresh := runtimetest.StartT(t)
	c2 := connect(fresh)
	t.Cleanup(func() { (&env{d: fresh, runDir: runDir, logDir: t.TempDir()}).removeAll(t) })
	if ms := mountsBelow(t, runDir); len(ms) != 0 {
		t.Errorf("after the sweep, still mounted below RunDir: %v", ms)
	}
	w.Spec.Env["GENERATION"] = "new"
	w = withHash(w.Name, w.Spec)
	w.HostPaths = []string{hostDir}
	if err := c2.Run(t.Context(), w, "rev2"); err != nil {
		t.Fatalf("Run on the port the gone containerd's workload had mapped: %v", err)
	}
	if _, body := get(t, port, "/env"); !strings.Contains(body, "GENERATION=new") {
		t.Errorf("the port serves:\n%s\nwant the new workload", body)
	}
}

// mountsBelow lists the mount points below dir.
func mountsBelow(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}
