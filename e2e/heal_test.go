package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// checkedWorkload is a workload with an HTTP health check; extra args are
// appended to the model server's (e.g. --fail-health).
func (f *fleet) checkedWorkload(name, image string, port int, extra ...string) {
	args := fmt.Sprintf(`"--listen", "127.0.0.1:%d"`, port)
	for _, a := range extra {
		args += fmt.Sprintf(", %q", a)
	}
	f.repo.Write("workloads/"+name+".yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: %s}
spec:
  image: %s
  args: [%s]
  ports: [%d]
  health: {http: {port: %d, path: /healthz}, period: 1s, timeout: 1s, failureThreshold: 2}
`, name, image, args, port, port))
}

// TestFleetdRollsBackAnUnhealthyVersion: a new model version that never
// becomes healthy is replaced by the last known good one, the status says
// so, and it is not tried again until its spec changes.
func TestFleetdRollsBackAnUnhealthyVersion(t *testing.T) {
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistry(t)
	v1 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	v2 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v2.json")
	repo := gittest.NewRepo(t)
	url := gittest.ServeHTTP(t, repo.BareParent, "", "") + "/" + repo.Name
	f := &fleet{repo: repo, registry: reg}
	port := gittest.FreePort(t)
	f.writeFleet()
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
	start := time.Now()
	out, err := a.once()
	if exitCode(err) != 1 {
		t.Fatalf("fleetd --once exited %v, want 1 after a rollback\n%s", err, out)
	}
	t.Logf("switch, verdict and rollback took %s", time.Since(start).Round(time.Millisecond))
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
	port2 := gittest.FreePort(t)
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
