package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"

	"github.com/gitfleet/gitfleet/internal/ocitest"
)

// keyPair writes a new ECDSA P-256 key pair: the private key as PKCS#8
// PEM, or as cosign's encrypted cosign.key when password is not nil.
func keyPair(t *testing.T, password []byte) (priv, pub string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	if password != nil {
		block = &pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: encryptCosign(t, der, password)}
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(priv, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// encryptCosign seals der as cosign generate-key-pair does (scrypt and
// nacl/secretbox), with a small scrypt N to keep the test fast.
func encryptCosign(t *testing.T, der, password []byte) []byte {
	t.Helper()
	salt, nonce := make([]byte, 32), [24]byte{}
	rand.Read(salt)
	rand.Read(nonce[:])
	k, err := scrypt.Key(password, salt, 1<<10, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	copy(key[:], k)
	b, err := json.Marshal(map[string]any{
		"kdf":        map[string]any{"name": "scrypt", "params": map[string]int{"N": 1 << 10, "r": 8, "p": 1}, "salt": salt},
		"cipher":     map[string]any{"name": "nacl/secretbox", "nonce": nonce[:]},
		"ciphertext": secretbox.Seal(nil, der, &nonce, &key),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignVerifyImage signs images in both formats, with a PKCS#8 key and
// an encrypted cosign key, and verifies them; a wrong key, an unsigned
// image and too few signatures are refused with exit 1 and the reason.
func TestSignVerifyImage(t *testing.T) {
	host := ocitest.NewRegistry(t)
	plainKey, plainPub := keyPair(t, nil)
	cosignKey, cosignPub := keyPair(t, []byte("s3cret"))
	_, otherPub := keyPair(t, nil)

	legacy := ocitest.RandomImage(t, host, "models/legacy")
	if r := fleetctl(t, "sign", "image", legacy, "--key", plainKey, "--plain-http"); r.code != 0 || !strings.Contains(r.stdout, "signed "+legacy+" (legacy)") {
		t.Fatalf("sign legacy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := fleetctl(t, "verify", "image", legacy, "--key", plainPub, "--plain-http")
	if r.code != 0 || !strings.Contains(r.stdout, "legacy signature by "+plainPub) || !strings.Contains(r.stdout, "digest sha256:") {
		t.Errorf("verify legacy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The bundle format by tag, with cosign's encrypted key.
	bundle := ocitest.RandomImage(t, host, "models/bundle")
	tagRef := strings.SplitN(bundle, "@", 2)[0] + ":latest"
	if r := fleetctl(t, "sign", "image", tagRef, "--key", cosignKey, "--format", "bundle", "--plain-http"); r.code != 1 || !strings.Contains(r.stderr, "COSIGN_PASSWORD") {
		t.Errorf("sign without COSIGN_PASSWORD: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("COSIGN_PASSWORD", "s3cret")
	if r := fleetctl(t, "sign", "image", tagRef, "--key", cosignKey, "--format", "bundle", "--plain-http"); r.code != 0 || !strings.Contains(r.stdout, "signed "+bundle+" (bundle)") {
		t.Fatalf("sign bundle: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = fleetctl(t, "verify", "image", bundle, "--key", cosignPub, "--key", otherPub, "--plain-http", "--output", "json")
	var out struct {
		Verified bool
		Result   struct {
			Digest     string
			Signatures []struct{ Format, KeyName string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s%s", err, r.stdout, r.stderr)
	}
	if r.code != 0 || !out.Verified || !strings.HasSuffix(bundle, out.Result.Digest) || len(out.Result.Signatures) != 1 ||
		out.Result.Signatures[0].Format != "bundle" || out.Result.Signatures[0].KeyName != cosignPub {
		t.Errorf("verify bundle: exit %d, %+v", r.code, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong key", []string{legacy, "--key", otherPub}, "refused"},
		{"unsigned", []string{ocitest.RandomImage(t, host, "models/unsigned"), "--key", plainPub}, "refused"},
		{"too few", []string{bundle, "--key", cosignPub, "--key", otherPub, "--min-signatures", "2"}, "refused"},
	} {
		r := fleetctl(t, append(append([]string{"verify", "image"}, tc.args...), "--plain-http")...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q", tc.name, r.code, r.stderr)
		}
	}
}
