package image

import (
	"crypto"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/spec"
)

func publicPEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	b, err := MarshalPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRevisionVerifier: the agent's verifier trusts the node's own keys and
// the revision's together, counts distinct signers for minSignatures, and
// classifies what it refuses (an image signed by no trusted key, no keys at
// all, a bad key) as refused and a registry that is down as transient.
func TestRevisionVerifier(t *testing.T) {
	ctx := ctxT(t)
	host := ocitest.NewRegistry(t)
	opts := optsFor(host)
	nodeKey, repoKey, otherKey := newECDSA(t), newECDSA(t), newECDSA(t)
	both := ocitest.RandomImage(t, host, "models/both")
	for _, k := range []crypto.Signer{nodeKey, repoKey} {
		if err := SignLegacy(ctx, both, k, opts); err != nil {
			t.Fatal(err)
		}
	}
	foreign := ocitest.RandomImage(t, host, "models/foreign")
	if err := SignLegacy(ctx, foreign, otherKey, opts); err != nil {
		t.Fatal(err)
	}
	v := NewRevisionVerifier(map[string][]byte{"/etc/gitfleet/trust/node.pub": publicPEM(t, nodeKey)})
	repoKeys := map[string][]byte{"trust/cosign.pub": publicPEM(t, repoKey)}

	for _, c := range []struct {
		name  string
		v     *RevisionVerifier
		ref   string
		keys  map[string][]byte
		min   int
		class fault.Class // of the error, when want is set
		want  string      // what the error says; "" to accept
	}{
		{"node key alone", v, both, nil, 1, 0, ""},
		{"node and revision keys, two signers", v, both, repoKeys, 2, 0, ""},
		{"two signers needed, one key known", v, both, nil, 2, fault.Refused, "refused"},
		{"signed by no trusted key", v, foreign, repoKeys, 1, fault.Refused, "refused"},
		{"no keys at all", NewRevisionVerifier(nil), both, nil, 1, fault.Refused, "no trusted image keys"},
		{"a bad key in the revision", v, both, map[string][]byte{"trust/bad.pub": []byte("not a key")}, 1, fault.Refused, "trust/bad.pub"},
	} {
		src, err := c.v.VerifyImage(ctx, c.ref, opts.Registries, c.keys, c.min)
		if err == nil && src.Ref() != c.ref {
			t.Errorf("%s: verified at %s, want %s handed on", c.name, src, c.ref)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || fault.ClassOf(err) != c.class || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err = %v (class %s); want %s saying %q", c.name, err, fault.ClassOf(err), c.class, c.want)
		}
	}

	// A registry that does not answer: transient, not a refusal.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	ref := down + both[strings.Index(both, "/"):]
	_, err = v.VerifyImage(ctx, ref, []spec.Registry{{Host: down, PlainHTTP: true}}, nil, 1)
	if err == nil || fault.ClassOf(err) != fault.Transient || errors.Is(err, ErrRefused) {
		t.Errorf("registry down: err = %v (class %s); want transient", err, fault.ClassOf(err))
	}
}

func TestLoadKeyDir(t *testing.T) {
	keys, err := LoadKeyDir(filepath.Join(t.TempDir(), "missing"))
	if err != nil || len(keys) != 0 {
		t.Errorf("missing dir: %v, %v; want no keys and no error", keys, err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"cosign.pub": "pem", "allowed_signers": "ssh", "ops.asc": "pgp"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "old.pub"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys, err = LoadKeyDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || string(keys[filepath.Join(dir, "cosign.pub")]) != "pem" {
		t.Errorf("keys = %q, want only cosign.pub", keys)
	}
}
