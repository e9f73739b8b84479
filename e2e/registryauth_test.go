package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// TestFleetdPrivateRegistry: the model image lives in Debian's
// docker-registry with htpasswd auth. Without a login fleetd refuses the
// revision as unauthorized and runs nothing; with the login in
// --registry-config (Docker config.json format) it verifies the signature
// and pulls through containerd with the same login, and the model serves.
// The password appears in no log line and no status report.
func TestFleetdPrivateRegistry(t *testing.T) {
	const user, password = "plant-1", "pw-9d1c7e0a-private"
	ctx := context.Background()
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistryWithLogin(t, user, password)
	keys := t.TempDir()
	ops, allowed := newSigner(t, keys, "ops@plant-1")

	trustDir, imgKey := newTrustDir(t, allowed)
	regFile := filepath.Join(t.TempDir(), "registries.json")
	login := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	if err := os.WriteFile(regFile, []byte(`{"auths": {"`+reg+`": {"auth": "`+login+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := image.LoadCredentials(regFile, "", false)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := imagebuild.Push(ctx, ocitest.ModelServerImageLocal(t, "defect-v1.json"), reg+"/models/defect:v1",
		remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	if err := image.SignLegacy(ctx, ref, imgKey.key, image.Options{Registries: []spec.Registry{{Host: reg, PlainHTTP: true}}, Credentials: creds}); err != nil {
		t.Fatal(err)
	}

	f, url := servedFleet(t, reg)
	repo := f.repo
	port := porttest.Port(t)
	f.group("defect")
	f.workload("defect", ref, port, "info")
	rev := ops.commit(t, repo, "defect v1 from the private registry")

	anon := newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--trust-dir", trustDir,
		"--registry-config", filepath.Join(t.TempDir(), "none.json"))
	if out, err := anon.once(); err == nil || !strings.Contains(out, "no such file") {
		t.Errorf("a named registry config that is missing: err %v, want fleetd to fail naming it:\n%s", err, out)
	}
	anon = newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--trust-dir", trustDir)
	out, err := anon.once()
	if err == nil {
		t.Fatalf("fleetd without a login applied the revision:\n%s", out)
	}
	if st := anon.report().Status; !strings.Contains(strings.ToLower(fmt.Sprint(st.Errors)), "unauthorized") {
		t.Errorf("status errors %v, want an unauthorized refusal", st.Errors)
	}
	if n := len(anon.instances()); n != 0 {
		t.Errorf("%d containers run without a login", n)
	}

	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--trust-dir", trustDir, "--registry-config", regFile)
	out, err = a.once()
	if err != nil {
		t.Fatalf("fleetd with the login: %v\n%s", err, out)
	}
	if in := a.running("defect"); in.Revision != rev || in.Image != ref {
		t.Errorf("defect runs %s at %s; want %s at %s", in.Image, in.Revision, ref, rev)
	}
	if v := modelVersion(t, port); !strings.Contains(v, `"v1"`) {
		t.Errorf("model version = %s, want v1", v)
	}
	assertHidden(t, "fleetd output", out, password, login)
	assertHidden(t, "status report", statusFile(t, repo), password, login)
}

// statusFile is the node's status report as committed on the server.
func statusFile(t *testing.T, repo *gittest.Repo) string {
	t.Helper()
	out, err := gittest.Command(repo.BareDir, "show", "refs/heads/status/press-01:status/press-01.yaml").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
