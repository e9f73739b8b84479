package secret_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitfleet/gitfleet/secret"
)

// TestIdentityEncryptDecrypt: an identity made once is read back the same;
// a value encrypted to it (armored or binary) opens with it and with no
// other identity.
func TestIdentityEncryptDecrypt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "age.key")
	id, created, err := secret.LoadOrCreateIdentity(file)
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	again, created, err := secret.LoadOrCreateIdentity(file)
	if err != nil || created || again.Recipient() != id.Recipient() {
		t.Fatalf("second load: created=%v err=%v recipient %s, want %s", created, err, again.Recipient(), id.Recipient())
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode: %v %v", fi, err)
	}
	other, _, err := secret.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, armored := range []bool{true, false} {
		enc, err := secret.Encrypt([]byte("value"), []string{id.Recipient()}, armored)
		if err != nil {
			t.Fatal(err)
		}
		if secret.IsArmored(enc) != armored {
			t.Errorf("armored=%v: IsArmored says %v", armored, !armored)
		}
		if got, err := id.Decrypt(enc); err != nil || string(got) != "value" {
			t.Errorf("armored=%v: decrypt = %q, %v", armored, got, err)
		}
		if _, err := other.Decrypt(enc); !errors.Is(err, secret.ErrNotRecipient) {
			t.Errorf("armored=%v: another identity: %v, want ErrNotRecipient", armored, err)
		}
	}
	if _, err := secret.Encrypt([]byte("v"), []string{"ssh-ed25519 AAAA"}, true); err == nil {
		t.Error("Encrypt accepted a recipient that is not age1…")
	}
	if err := os.WriteFile(file, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := secret.LoadOrCreateIdentity(file); err == nil {
		t.Error("a corrupt identity file was accepted (or replaced)")
	}
}
