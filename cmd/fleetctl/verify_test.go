package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// sshKey makes an ed25519 key pair with ssh-keygen and returns the private
// key file and the public key line.
func sshKey(t *testing.T) (priv, pubLine string) {
	t.Helper()
	priv = filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f", priv).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return priv, strings.TrimSpace(string(pub))
}

// TestVerifyCommit signs a commit with an ssh-keygen key and verifies it
// against a trust folder; an unsigned commit and another signer are
// refused with exit 1.
func TestVerifyCommit(t *testing.T) {
	key, pub := sshKey(t)
	otherKey, _ := sshKey(t)
	r := gittest.NewRepo(t)
	commit := func(signingKey, msg string) string {
		r.Write("fleet.yaml", msg+"\n")
		gittest.Git(t, r.Dir, "add", "-A")
		args := []string{"commit", "-q", "-m", msg}
		if signingKey != "" {
			args = append([]string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + signingKey}, append(args, "-S")...)
		}
		gittest.Git(t, r.Dir, args...)
		return strings.TrimSpace(gittest.Git(t, r.Dir, "rev-parse", "HEAD"))
	}
	signed := commit(key, "signed")
	other := commit(otherKey, "signed by another key")
	unsigned := commit("", "unsigned")

	trustDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(trustDir, "allowed_signers"), []byte(`ops@example.com namespaces="git" `+pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := fleetctl(t, "verify", "commit", signed, "--repo", r.Dir, "--trust", trustDir)
	if res.code != 0 || !strings.Contains(res.stdout, "commit "+signed+" signed by ssh SHA256:") || !strings.Contains(res.stdout, "ops@example.com") {
		t.Errorf("signed: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = fleetctl(t, "verify", "commit", "HEAD~2", "--repo", r.Dir, "--trust", trustDir, "--output", "json")
	var out struct {
		Commit   string
		Verified bool
		Signer   struct{ Kind, Principal string }
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || res.code != 0 || out.Commit != signed || !out.Verified || out.Signer.Kind != "ssh" || out.Signer.Principal != "ops@example.com" {
		t.Errorf("json: exit %d, %+v (%v)\n%s", res.code, out, err, res.stderr)
	}
	for name, rev := range map[string]string{"other signer": other, "unsigned": unsigned} {
		res := fleetctl(t, "verify", "commit", rev, "--repo", r.Dir, "--trust", trustDir)
		if res.code != 1 || !strings.Contains(res.stderr, rev) {
			t.Errorf("%s: exit %d, stderr %q", name, res.code, res.stderr)
		}
	}
	if res := fleetctl(t, "verify", "commit", signed, "--repo", r.Dir, "--trust", t.TempDir()); res.code != 1 || !strings.Contains(res.stderr, "no commit keys") {
		t.Errorf("empty trust dir: exit %d, stderr %q", res.code, res.stderr)
	}
}
