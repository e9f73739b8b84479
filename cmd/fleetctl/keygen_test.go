package main

import (
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/spec"
)

// TestKeygenSignVerify: a key pair from keygen signs an image with
// fleetctl sign, and the verification fleetd runs accepts the signature
// under the public key and refuses it under another key.
func TestKeygenSignVerify(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("COSIGN_PASSWORD", "correct horse")
	r := fleetctl(t, "keygen")
	if r.code != 0 || !strings.Contains(r.stdout, "cosign.key") || !strings.Contains(r.stdout, "cosign.pub") {
		t.Fatalf("keygen: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	priv, err := os.ReadFile("cosign.key")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(priv), "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----") {
		t.Errorf("cosign.key is not cosign's encrypted format:\n%.80s", priv)
	}
	if fi, err := os.Stat("cosign.key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("cosign.key mode: %v %v, want 0600", fi.Mode(), err)
	}
	// cosign opens its keys with go-securesystemslib; so must it open ours.
	if _, err := image.LoadEncryptedPrivateKey(priv, []byte("wrong")); err == nil {
		t.Error("the private key opened with a wrong password")
	}
	if _, err := decryptLikeCosign(priv, "correct horse"); err != nil {
		t.Errorf("go-securesystemslib cannot open cosign.key: %v", err)
	}

	// A second keygen must not overwrite the pair.
	if r := fleetctl(t, "keygen"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("keygen over existing keys: exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile("cosign.key"); string(after) != string(priv) {
		t.Error("keygen overwrote cosign.key")
	}

	host := ocitest.NewRegistry(t)
	ref := ocitest.RandomImage(t, host, "models/keygen")
	if r := fleetctl(t, "sign", "image", ref, "--key", "cosign.key", "--plain-http"); r.code != 0 {
		t.Fatalf("sign with the keygen key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pub, err := os.ReadFile("cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	regs := []spec.Registry{{Host: host, PlainHTTP: true}}
	if err := verifyAsFleetd(t, ref, regs, map[string][]byte{"trust/cosign.pub": pub}); err != nil {
		t.Errorf("fleetd's verification refused a keygen-signed image: %v", err)
	}

	other := filepath.Join(dir, "other")
	if r := fleetctl(t, "keygen", "--output-key-prefix", other); r.code != 0 {
		t.Fatalf("keygen --output-key-prefix: exit %d\n%s", r.code, r.stderr)
	}
	otherPub, err := os.ReadFile(other + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyAsFleetd(t, ref, regs, map[string][]byte{"other.pub": otherPub}); !errors.Is(err, image.ErrRefused) {
		t.Errorf("an image signed by another key: %v, want refused", err)
	}
}

// TestKeygenNeedsPassword: without COSIGN_PASSWORD and no terminal,
// keygen says so and writes nothing.
func TestKeygenNeedsPassword(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("COSIGN_PASSWORD", "") // restored after the test
	os.Unsetenv("COSIGN_PASSWORD")
	r := fleetctl(t, "keygen")
	if r.code != 1 || !strings.Contains(r.stderr, "COSIGN_PASSWORD") {
		t.Errorf("keygen without a password: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat("cosign.key"); err == nil {
		t.Error("keygen wrote cosign.key without a password")
	}
}

// verifyAsFleetd runs the image verification fleetd runs before a pull.
func verifyAsFleetd(t *testing.T, ref string, regs []spec.Registry, keys map[string][]byte) error {
	t.Helper()
	ks, err := image.ParsePublicKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	_, err = image.NewVerifier(ks, image.Options{}).Verify(context.Background(), ref, regs)
	return err
}

// decryptLikeCosign opens cosign.key the way cosign does.
func decryptLikeCosign(pemKey []byte, password string) ([]byte, error) {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return encrypted.Decrypt(block.Bytes, []byte(password))
}
