package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// TestFleetdModeAllFromFleetYAML runs fleetd verifying signatures in its
// default mode (head) on a fleet whose fleet.yaml asks for every commit to
// be signed: a signed head over an unsigned intermediate commit is refused,
// naming that commit, and nothing changes; the same change made of signed
// commits only applies.
func TestFleetdModeAllFromFleetYAML(t *testing.T) {
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistry(t)
	keys := t.TempDir()
	ops, allowed := newSigner(t, keys, "ops@plant-1")

	trustDir, imgKey := newTrustDir(t, allowed)
	defect := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	imgKey.sign(t, defect, reg)

	f, url := servedFleet(t, reg)
	repo := f.repo
	repo.Write("fleet.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: e2e}
spec:
  pollInterval: 1s
  registries: [{host: %q, plainHTTP: true}]
  trust: {commits: {mode: all}}
`, reg))
	port := porttest.Port(t)
	f.group("defect")
	f.workload("defect", defect, port, "info")
	rev1 := ops.commit(t, repo, "defect v1, every commit signed from now on")
	// The node's own mode is the default, head: the repo asks for more.
	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--trust-dir", trustDir)
	a.mustOnce()
	if in := a.running("defect"); in.Revision != rev1 {
		t.Fatalf("defect runs %s, want %s", in.Revision, rev1)
	}
	before := a.running("defect")

	t.Run("signed head over an unsigned commit is refused", func(t *testing.T) {
		f.workload("defect", defect, port, "debug")
		unsigned := signer{}.commit(t, repo, "unsigned: debug logging")
		f.workload("defect", defect, port, "warn")
		head := ops.commit(t, repo, "signed: warn logging")
		out, err := a.once()
		if exitCode(err) != 1 {
			t.Fatalf("fleetd --once exited %v, want 1\n%s", err, out)
		}
		if after := a.running("defect"); after.PID != before.PID || after.Revision != rev1 {
			t.Errorf("the container changed: before %+v after %+v", before, after)
		}
		st := a.report().Status
		if st.ObservedRevision != head || st.AppliedRevision != rev1 {
			t.Errorf("observed %s applied %s; want %s and %s", st.ObservedRevision, st.AppliedRevision, head, rev1)
		}
		if len(st.Errors) == 0 || st.Errors[0].Ref != head || !strings.Contains(st.Errors[0].Reason, unsigned) || !strings.Contains(st.Errors[0].Reason, "not signed") {
			t.Errorf("errors = %+v; want the unsigned commit %s named, at %s", st.Errors, unsigned, head)
		}
		if c := st.Conditions[0]; c.Reason != "Refused" {
			t.Errorf("Ready = %+v, want reason Refused", c)
		}
	})

	t.Run("the same change signed throughout applies", func(t *testing.T) {
		repo.Reset(rev1)
		f.workload("defect", defect, port, "debug")
		ops.commit(t, repo, "signed: debug logging")
		f.workload("defect", defect, port, "warn")
		head := ops.commit(t, repo, "signed: warn logging")
		a.mustOnce()
		if in := a.running("defect"); in.Revision != head || in.PID == before.PID {
			t.Errorf("defect = %+v; want a new container at %s", in, head)
		}
		if st := a.report().Status; st.AppliedRevision != head || len(st.Errors) != 0 {
			t.Errorf("status = %+v", st)
		}
		modelVersion(t, port)
	})
}
