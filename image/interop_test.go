package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// TestCosignInterop checks, against the real cosign, that what cosign signs
// Verify accepts and that what SignLegacy and SignBundle write `cosign
// verify --key` accepts. `make test` builds cosign once (a pinned version,
// from the Go module proxy, kept in ~/.cache/gitfleet) and passes it in
// GITFLEET_COSIGN; without it the test fails, it never skips.
func TestCosignInterop(t *testing.T) {
	bin := cosignBinary(t)
	dir := t.TempDir()
	cosign := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"), "COSIGN_PASSWORD=", "COSIGN_YES=true")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := cosign(t, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "cosign.key"))
	pubPEM, _ := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	key, err := LoadEncryptedPrivateKey(keyPEM, nil)
	if err != nil {
		t.Fatalf("load cosign.key: %v", err)
	}
	keys, err := ParsePublicKeys(map[string][]byte{"cosign.pub": pubPEM})
	if err != nil {
		t.Fatal(err)
	}
	net := []string{"--allow-http-registry", "--allow-insecure-registry"}
	signArgs := append([]string{"sign", "--key", "cosign.key", "--tlog-upload=false"}, net...)
	verifyArgs := append([]string{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog"}, net...)
	bundleFlags := []string{"--new-bundle-format", "--use-signing-config=false"}
	// Offline, cosign verify --new-bundle-format wants a trusted root: an
	// empty one will do for a key.
	root := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(root, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, r := range ocitest.Kinds() {
		t.Run(r.Name, func(t *testing.T) {
			host := r.Start(t)
			opts := optsFor(host)
			t.Run("cosign_sign_legacy", func(t *testing.T) {
				ref := ocitest.RandomImage(t, host, "interop/cosign-legacy")
				if out, err := cosign(t, append(signArgs, ref)...); err != nil {
					t.Fatalf("cosign sign: %v\n%s", err, out)
				}
				checkAccepted(t, ref, keys, opts, FormatLegacy)
			})
			t.Run("cosign_sign_bundle", func(t *testing.T) {
				ref := ocitest.RandomImage(t, host, "interop/cosign-bundle")
				if out, err := cosign(t, append(append(signArgs, bundleFlags...), ref)...); err != nil {
					t.Fatalf("cosign sign --new-bundle-format: %v\n%s", err, out)
				}
				checkAccepted(t, ref, keys, opts, FormatBundle)
			})
			t.Run("SignLegacy_cosign_verify", func(t *testing.T) {
				ref := ocitest.RandomImage(t, host, "interop/ours-legacy")
				if err := SignLegacy(ctxT(t), ref, key, opts); err != nil {
					t.Fatal(err)
				}
				if out, err := cosign(t, append(verifyArgs, ref)...); err != nil {
					t.Fatalf("cosign verify: %v\n%s", err, out)
				}
			})
			t.Run("SignBundle_cosign_verify", func(t *testing.T) {
				ref := ocitest.RandomImage(t, host, "interop/ours-bundle")
				if err := SignBundle(ctxT(t), ref, key, opts); err != nil {
					t.Fatal(err)
				}
				if out, err := cosign(t, append(append(verifyArgs, "--new-bundle-format", "--trusted-root", root), ref)...); err != nil {
					t.Fatalf("cosign verify --new-bundle-format: %v\n%s", err, out)
				}
			})
			t.Run("cosign_verify_refuses_foreign_key", func(t *testing.T) {
				ref := ocitest.RandomImage(t, host, "interop/foreign")
				if err := SignBundle(ctxT(t), ref, newECDSA(t), opts); err != nil {
					t.Fatal(err)
				}
				if err := SignLegacy(ctxT(t), ref, newECDSA(t), opts); err != nil {
					t.Fatal(err)
				}
				for _, extra := range [][]string{nil, {"--new-bundle-format", "--trusted-root", root}} {
					if out, err := cosign(t, append(append(verifyArgs, extra...), ref)...); err == nil {
						t.Errorf("cosign verify %v accepted a signature by another key:\n%s", extra, out)
					}
				}
			})
			t.Run("cosign_attest_refused", func(t *testing.T) {
				ref := ocitest.RandomImage(t, host, "interop/attested")
				pred := filepath.Join(dir, "predicate.json")
				if err := os.WriteFile(pred, []byte(`{"buildType":"test"}`), 0o644); err != nil {
					t.Fatal(err)
				}
				args := append(append([]string{"attest", "--key", "cosign.key", "--tlog-upload=false", "--type", "https://example.com/model-card/v1", "--predicate", pred}, net...), bundleFlags...)
				if out, err := cosign(t, append(args, ref)...); err != nil {
					t.Fatalf("cosign attest: %v\n%s", err, out)
				}
				_, err := Verify(ctxT(t), ref, keys, opts)
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("Verify of an attested-only image = %v, want refused", err)
				}
				t.Logf("refusal: %v", err)
			})
		})
	}
}

// cosignBinary is GITFLEET_COSIGN, or else the newest cosign `make cosign`
// left in its cache; it fails the test when there is none.
func cosignBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("GITFLEET_COSIGN")
	if bin == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cached, _ := filepath.Glob(filepath.Join(home, ".cache/gitfleet/cosign-*/cosign"))
			if len(cached) > 0 {
				slices.Sort(cached)
				bin = cached[len(cached)-1]
			}
		}
	}
	if bin == "" {
		t.Fatal("no cosign binary: `make test` builds one and sets GITFLEET_COSIGN (`make cosign` builds it alone)")
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("cosign binary %s: %v (`make cosign` builds it)", bin, err)
	}
	return bin
}

func checkAccepted(t *testing.T, ref string, keys *KeySet, opts Options, format Format) {
	t.Helper()
	res, err := Verify(ctxT(t), ref, keys, opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(res.Signatures) == 0 || res.Signatures[0].Format != format {
		t.Errorf("signatures %+v, want one in format %s", res.Signatures, format)
	}
}
