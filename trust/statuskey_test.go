package trust_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hiddeco/sshsig"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/trust"
)

func TestStatusKeyMadeOnceAndKept(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "status.key")
	k1, created, err := trust.LoadOrCreateStatusKey(file, "fleetd@press-01")
	if err != nil || !created {
		t.Fatalf("first load = %v, created %t; want a new key", err, created)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := trust.LoadOrCreateStatusKey(file, "fleetd@press-01")
	if err != nil || created {
		t.Fatalf("second load = %v, created %t; want the same key", err, created)
	}
	if k1.Fingerprint() != k2.Fingerprint() {
		t.Errorf("key changed across loads: %s, %s", k1.Fingerprint(), k2.Fingerprint())
	}
	line := k1.AuthorizedKey("fleetd@press-01")
	if !strings.HasPrefix(line, "ssh-ed25519 AAAA") || !strings.HasSuffix(line, " fleetd@press-01") || strings.Contains(line, "\n") {
		t.Errorf("AuthorizedKey = %q", line)
	}
	if err := spec.CheckStatusKey(line); err != nil {
		t.Errorf("spec refuses the printed key: %v", err)
	}
	if _, err := trust.ParseStatusKey(line); err != nil {
		t.Errorf("ParseStatusKey(%q): %v", line, err)
	}
	if err := os.WriteFile(file, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := trust.LoadOrCreateStatusKey(file, ""); err == nil {
		t.Error("a damaged key file was accepted")
	}
}

func TestVerifyReport(t *testing.T) {
	dir := t.TempDir()
	load := func(name string) *trust.StatusKey {
		k, _, err := trust.LoadOrCreateStatusKey(filepath.Join(dir, name), "")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	node, other := load("node"), load("other")
	payload := []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n\nreport\n")
	sign := func(k *trust.StatusKey, msg []byte) string {
		s, err := k.Sign(strings.NewReader(string(msg)))
		if err != nil {
			t.Fatal(err)
		}
		return string(s)
	}
	good := sign(node, payload)
	// A signature made in another namespace (ssh-keygen -Y sign -n file).
	raw, err := sshsig.Unarmor([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	raw.Namespace = "file"
	otherNS := string(sshsig.Armor(raw))
	enrolled := node.AuthorizedKey("fleetd@n")

	tests := []struct {
		name, key, sig string
		payload        []byte
		want           string // "" trusted, else a part of the reason
	}{
		{"signed by the enrolled key", enrolled, good, payload, ""},
		{"no key enrolled", "", good, payload, "no statusKey enrolled"},
		{"enrolled key broken", "ssh-ed25519 AAAA", good, payload, "does not parse"},
		{"unsigned", enrolled, "", payload, "not signed"},
		{"another key", enrolled, sign(other, payload), payload, "signed by ssh-ed25519 key " + other.Fingerprint() + ", not the enrolled"},
		{"content changed", enrolled, good, append([]byte("x"), payload...), "does not match"},
		{"namespace", enrolled, otherNS, payload, `namespace "file"`},
		{"two blocks", enrolled, good + good, payload, "2 signature blocks"},
		{"OpenPGP", enrolled, "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n", payload, "not an SSH signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp, err := trust.VerifyReport(tt.key, tt.sig, tt.payload)
			switch {
			case tt.want == "" && (err != nil || fp != node.Fingerprint()):
				t.Errorf("VerifyReport = %q, %v; want trusted, %s", fp, err, node.Fingerprint())
			case tt.want != "" && (err == nil || !errors.Is(err, trust.ErrUntrustedReport) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("VerifyReport = %q, %v; want untrusted with %q", fp, err, tt.want)
			}
		})
	}
}

// FuzzVerifyReport: a status ref's signature header and an enrolled key
// line are outside input; whatever they hold, VerifyReport answers
// without panicking, and never trusts a report whose bytes it was not
// signed over.
func FuzzVerifyReport(f *testing.F) {
	k, _, err := trust.LoadOrCreateStatusKey(filepath.Join(f.TempDir(), "k"), "")
	if err != nil {
		f.Fatal(err)
	}
	sig, err := k.Sign(strings.NewReader("payload"))
	if err != nil {
		f.Fatal(err)
	}
	key := k.AuthorizedKey("c")
	f.Add(key, string(sig), []byte("payload"))
	f.Add(key, string(sig)+string(sig), []byte("payload"))
	f.Add("ssh-ed25519 AAAA c", "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n", []byte{})
	f.Add("", "", []byte(nil))
	f.Fuzz(func(t *testing.T, key, sig string, payload []byte) {
		fp, err := trust.VerifyReport(key, sig, payload)
		if err == nil && fp == "" {
			t.Fatal("trusted without a fingerprint")
		}
		if err != nil && !errors.Is(err, trust.ErrUntrustedReport) {
			t.Fatalf("error %v does not match ErrUntrustedReport", err)
		}
	})
}
