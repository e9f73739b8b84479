package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// signer is an SSH key that signs commits, made with ssh-keygen.
type signer struct{ key string }

func newSigner(t *testing.T, dir, principal string) (signer, string) {
	t.Helper()
	key := filepath.Join(dir, principal)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: key}, principal + " " + strings.TrimSpace(string(pub)) + "\n"
}

// newTrustDir writes a node's trust dir: allowed (allowed_signers lines)
// for commits and the public half of a new cosign key for images, which it
// returns with the dir.
func newTrustDir(t *testing.T, allowed string) (string, cosignKey) {
	t.Helper()
	dir := t.TempDir()
	k := newCosignKey(t)
	for name, b := range map[string][]byte{"allowed_signers": []byte(allowed), "cosign.pub": k.pub} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, k
}

// commit commits the work tree signed by s (unsigned when s.key is "") and
// force-pushes it.
func (s signer) commit(t *testing.T, repo *gittest.Repo, msg string) string {
	t.Helper()
	gittest.Git(t, repo.Dir, "add", "-A")
	args := []string{"commit", "-q", "--allow-empty", "-m", msg}
	if s.key != "" {
		args = append([]string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + s.key}, append(args, "-S")...)
	}
	gittest.Git(t, repo.Dir, args...)
	gittest.Git(t, repo.Dir, "push", "-q", "--force", "origin", "main")
	return repo.Head()
}

// TestFleetdVerifiesSignatures runs fleetd with a trust dir: only commits
// signed by a trusted SSH key and images signed by a trusted cosign key run.
func TestFleetdVerifiesSignatures(t *testing.T) {
	ctx := context.Background()
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistry(t)
	keys := t.TempDir()
	ops, allowed := newSigner(t, keys, "ops@plant-1")
	intruder, _ := newSigner(t, keys, "intruder@example")

	// The node's trust dir: the ops SSH key for commits, a cosign key for images.
	trustDir, imgKey := newTrustDir(t, allowed)
	opts := image.Options{Registries: []spec.Registry{{Host: reg, PlainHTTP: true}}}
	signedV1 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	if err := image.SignLegacy(ctx, signedV1, imgKey.key, opts); err != nil {
		t.Fatal(err)
	}
	signedV2 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v2.json")
	if err := image.SignBundle(ctx, signedV2, imgKey.key, opts); err != nil {
		t.Fatal(err)
	}
	unsigned := ocitest.ModelServerImage(t, reg, "models/vibration", "vibration-v1.json")

	f, url := servedFleet(t, reg)
	repo := f.repo
	port := porttest.Port(t)
	f.group("defect")
	f.workload("defect", signedV1, port, "info")
	rev1 := ops.commit(t, repo, "defect v1")
	a := newAgent(t, repo, url, ctd.Address, "press-01", "line=a", "--trust-dir", trustDir)

	t.Run("signed commit and signed image run", func(t *testing.T) {
		a.mustOnce()
		if in := a.running("defect"); in.Revision != rev1 {
			t.Errorf("defect runs %s, want %s", in.Revision, rev1)
		}
		if st := a.report().Status; st.VerificationDisabled || st.AppliedRevision != rev1 {
			t.Errorf("status = %+v", st)
		}
	})

	// refused commits the current work tree with s, runs one pass that must
	// fail, and checks nothing changed and the report names want.
	refused := func(t *testing.T, s signer, msg, want string) string {
		t.Helper()
		before := a.running("defect")
		rev := s.commit(t, repo, msg)
		out, err := a.once()
		if exitCode(err) != 1 {
			t.Fatalf("fleetd --once exited %v, want 1\n%s", err, out)
		}
		if after := a.running("defect"); after.PID != before.PID || after.Revision != before.Revision {
			t.Errorf("the container changed: before %+v after %+v", before, after)
		}
		st := a.report().Status
		if st.ObservedRevision != rev || st.AppliedRevision != before.Revision {
			t.Errorf("observed %s applied %s; want %s and %s", st.ObservedRevision, st.AppliedRevision, rev, before.Revision)
		}
		if len(st.Errors) == 0 || !strings.Contains(st.Errors[0].Reason, want) || st.Errors[0].Ref != rev {
			t.Errorf("errors = %+v; want %q at %s", st.Errors, want, rev)
		}
		return rev
	}

	t.Run("unsigned commit is refused", func(t *testing.T) {
		f.workload("defect", signedV2, port, "info")
		refused(t, signer{}, "unsigned change", "not signed")
	})
	t.Run("commit by an untrusted key is refused", func(t *testing.T) {
		refused(t, intruder, "intruder change", "not trusted")
	})
	t.Run("unsigned image is refused", func(t *testing.T) {
		f.workload("defect", unsigned, port, "info")
		refused(t, ops, "signed commit, unsigned image", "no signature found")
	})

	var rev2 string
	t.Run("signed commit with a bundle-signed image applies after refusals", func(t *testing.T) {
		f.workload("defect", signedV2, port, "info")
		rev2 = ops.commit(t, repo, "defect v2")
		a.mustOnce()
		if in := a.running("defect"); in.Revision != rev2 || in.Image != signedV2 {
			t.Errorf("defect = %+v; want %s at %s", in, signedV2, rev2)
		}
		if v := modelVersion(t, port); !strings.Contains(v, `"v2"`) {
			t.Errorf("model version = %s, want v2", v)
		}
	})

	t.Run("force-push to an older signed commit is refused", func(t *testing.T) {
		repo.Reset(rev1)
		gittest.Git(t, repo.Dir, "push", "-q", "--force", "origin", "main")
		before := a.running("defect")
		out, err := a.once()
		if exitCode(err) != 1 {
			t.Fatalf("fleetd --once exited %v, want 1\n%s", err, out)
		}
		if after := a.running("defect"); after.PID != before.PID {
			t.Error("a rollback by force-push changed the container")
		}
		st := a.report().Status
		if len(st.Errors) == 0 || !strings.Contains(st.Errors[0].Reason, "does not descend") {
			t.Errorf("errors = %+v; want the rollback named", st.Errors)
		}
	})
}
