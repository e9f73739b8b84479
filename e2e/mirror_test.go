package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// TestFleetdThroughMirror: the workload names its image at
// registry.invalid, which does not exist; fleet.yaml sends that registry
// to a mirror (Debian's docker-registry) under the path prefix cache/.
// fleetd verifies the signed image at the mirror and runs exactly it.
func TestFleetdThroughMirror(t *testing.T) {
	ctd := runtimetest.StartT(t)
	mirror := ocitest.StartDockerRegistry(t)
	keys := t.TempDir()
	ops, allowed := newSigner(t, keys, "ops@plant-1")

	trustDir, imgKey := newTrustDir(t, allowed)
	atMirror := ocitest.ModelServerImage(t, mirror, "cache/models/defect", "defect-v1.json")
	imgKey.sign(t, atMirror, mirror)
	ref := "registry.invalid/models/defect" + atMirror[strings.LastIndexByte(atMirror, '@'):]

	f, url := servedFleet(t, mirror)
	repo := f.repo
	repo.Write("fleet.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Fleet
metadata: {name: e2e}
spec:
  pollInterval: 1s
  registries:
    - {host: registry.invalid, mirrors: ["%s/cache"]}
    - {host: %q, plainHTTP: true}
`, mirror, mirror))
	port := porttest.Port(t)
	f.group("defect")
	f.workload("defect", ref, port, "info")
	rev := ops.commit(t, repo, "defect v1 through the plant's mirror")
	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--trust-dir", trustDir)
	a.mustOnce()
	in := a.running("defect")
	if in.Revision != rev || in.Image != ref {
		t.Errorf("defect runs %s at %s; want %s at %s", in.Image, in.Revision, ref, rev)
	}
	if v := modelVersion(t, port); !strings.Contains(v, `"v1"`) {
		t.Errorf("model version = %s, want v1", v)
	}
	if st := a.report().Status; st.VerificationDisabled || st.AppliedRevision != rev || len(st.Errors) != 0 {
		t.Errorf("status = %+v", st)
	}
}
