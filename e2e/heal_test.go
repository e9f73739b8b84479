package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// checkedWorkload is a workload with an HTTP health check; extra args are
// appended to the model server's (e.g. --fail-health). A version meant to
// be healthy gets a long start period, so a server still starting on a
// busy machine is no failure; a broken one (--fail-health) gets none, so
// its verdict comes at once. Probe timeouts are far beyond any load.
func (f *fleet) checkedWorkload(name, image string, port int, extra ...string) {
	args := fmt.Sprintf(`"--listen", ":%d"`, port)
	startPeriod := "5m"
	for _, a := range extra {
		args += fmt.Sprintf(", %q", a)
		if a == "--fail-health" {
			startPeriod = "0s"
		}
	}
	f.repo.Write("workloads/"+name+".yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: %s}
spec:
  image: %s
  args: [%s]
  ports: [%d]
  health: {http: {port: %d, path: /healthz}, startPeriod: %s, period: 1s, timeout: 30s, failureThreshold: 2}
`, name, image, args, port, port, startPeriod))
}

// TestFleetdRollsBackAnUnhealthyVersion: a new model version that never
// becomes healthy is replaced by the last known good one, the status says
// so, and it is not tried again until its spec changes.
func TestFleetdRollsBackAnUnhealthyVersion(t *testing.T) {
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistry(t)
	v1 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	v2 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v2.json")
	f, url := servedFleet(t, reg)
	repo := f.repo
	port := porttest.Port(t)
	f.group("defect")
	f.checkedWorkload("defect", v1, port)
	repo.Commit("defect v1")
	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a")
	a.mustOnce()
	good := a.running("defect")
	if st := a.report().Status; st.Workloads[0].Health != "healthy" {
		t.Fatalf("v1 health = %q, want healthy", st.Workloads[0].Health)
	}

	f.checkedWorkload("defect", v2, port, "--fail-health")
	rev2 := repo.Commit("defect v2 (broken)")
	out, err := a.once()
	if exitCode(err) != 1 {
		t.Fatalf("fleetd --once exited %v, want 1 after a rollback\n%s", err, out)
	}
	back := a.running("defect")
	if back.SpecHash != good.SpecHash || back.Image != v1 {
		t.Errorf("after rollback defect = %+v; want v1's spec", back)
	}
	if v := modelVersion(t, port); !strings.Contains(v, `"v1"`) {
		t.Errorf("model version = %s, want v1 serving again", v)
	}
	st := a.report().Status
	want := "rolled back defect from " + v2 + " to " + v1 + ": unhealthy"
	if len(st.Errors) != 1 || !strings.HasPrefix(st.Errors[0].Reason, want) {
		t.Errorf("errors = %+v; want %q", st.Errors, want)
	}
	if st.Conditions[0].Reason != "RolledBack" || st.AppliedRevision != rev2 {
		t.Errorf("status = %+v", st)
	}

	// Not retried: the next pass leaves v1 alone.
	if out, err := a.once(); err != nil {
		t.Fatalf("next pass: %v\n%s", err, out)
	}
	if again := a.running("defect"); again.PID != back.PID {
		t.Error("the broken version was tried again before its spec changed")
	}

	// A fixed version is applied.
	f.checkedWorkload("defect", v2, port)
	repo.Commit("defect v2 (fixed)")
	a.mustOnce()
	if v := modelVersion(t, port); !strings.Contains(v, `"v2"`) {
		t.Errorf("model version = %s, want v2 after the fix", v)
	}
	if st := a.report().Status; len(st.Errors) != 0 || st.Conditions[0].Reason != "Applied" {
		t.Errorf("status after the fix = %+v", st)
	}

	// On another port the old version keeps serving while the new one is
	// checked, and a failed new one never interrupts it.
	serving := a.running("defect")
	port2 := porttest.Port(t)
	f.checkedWorkload("defect", v1, port2, "--fail-health")
	repo.Commit("defect v1 on another port (broken)")
	if out, err := a.once(); exitCode(err) != 1 {
		t.Fatalf("fleetd --once exited %v, want 1 after a rollback\n%s", err, out)
	}
	if still := a.running("defect"); still.PID != serving.PID {
		t.Errorf("the old version was restarted (pid %d -> %d); it should have kept serving", serving.PID, still.PID)
	}
	if v := modelVersion(t, port); !strings.Contains(v, `"v2"`) {
		t.Errorf("model version = %s, want v2 still serving on the old port", v)
	}
}

// TestFleetdUpdateLock: while a workload's lock file exists on the host, its
// update waits and the status says why; once the lock is gone it goes ahead.
func TestFleetdUpdateLock(t *testing.T) {
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistry(t)
	v1 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	v2 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v2.json")
	hostDir := t.TempDir()
	lock := filepath.Join(hostDir, "defect.lock")
	f, url := servedFleet(t, reg)
	repo := f.repo
	// The lock must lie below one of the fleet's host paths.
	fleetFile := filepath.Join(repo.Dir, "fleet.yaml")
	b, err := os.ReadFile(fleetFile)
	if err != nil {
		t.Fatal(err)
	}
	repo.Write("fleet.yaml", string(b)+"  hostPaths: ["+hostDir+"]\n")
	port := porttest.Port(t)
	locked := func(image string) {
		f.repo.Write("workloads/defect.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: defect}
spec:
  image: %s
  args: ["--listen", ":%d"]
  ports: [%d]
  updateLock: {path: %s, maxDeferral: 1h}
`, image, port, port, lock))
	}
	f.group("defect")
	locked(v1)
	repo.Commit("defect v1 with an update lock")
	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a")
	a.mustOnce()
	before := a.running("defect")

	if err := os.WriteFile(lock, []byte("calibrating\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	locked(v2)
	repo.Commit("defect v2")
	if out, err := a.once(); exitCode(err) != 1 {
		t.Fatalf("fleetd --once with the lock held exited %v, want 1 (held)\n%s", err, out)
	}
	if in := a.running("defect"); in.PID != before.PID {
		t.Error("the update went ahead while the lock was held")
	}
	st := a.report().Status
	if c := st.Conditions[0]; c.Reason != "Waiting" || !strings.Contains(c.Message, "update deferred by lock "+lock) {
		t.Errorf("Ready = %+v", c)
	}
	if w := st.Workloads[0]; !strings.Contains(w.Message, "update deferred") {
		t.Errorf("workload = %+v", w)
	}

	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	a.mustOnce()
	if v := modelVersion(t, port); !strings.Contains(v, `"v2"`) {
		t.Errorf("model version = %s, want v2 once the lock was released", v)
	}
}
