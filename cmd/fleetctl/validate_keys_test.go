package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyExample copies examples/fleet-repo to a new folder.
func copyExample(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(exampleRepo, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(exampleRepo, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755)
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestValidateKeyFiles: every key file fleet.yaml names must exist and
// parse as the agent parses it; each problem is an error on fleet.yaml's
// field naming the file.
func TestValidateKeyFiles(t *testing.T) {
	_, pub := sshKey(t)
	for _, tc := range []struct {
		name   string
		change func(dir string)
		want   []string // lines of the output
	}{
		{"missing", func(dir string) {
			os.Remove(filepath.Join(dir, "trust/allowed_signers"))
			os.Remove(filepath.Join(dir, "trust/cosign.pub"))
		}, []string{
			"fleet.yaml:37: spec.trust.commits.allowedSigners: key file trust/allowed_signers does not exist in the repo",
			"fleet.yaml:39: spec.trust.images.keys[0]: key file trust/cosign.pub does not exist in the repo",
		}},
		{"not PEM", func(dir string) {
			os.WriteFile(filepath.Join(dir, "trust/cosign.pub"), []byte("ssh-ed25519 AAAA not a pem key\n"), 0o644)
		}, []string{"fleet.yaml:39: spec.trust.images.keys[0]: key file trust/cosign.pub: "}},
		{"bad signers line", func(dir string) {
			os.WriteFile(filepath.Join(dir, "trust/allowed_signers"), []byte(pub+"\nops@example.com ssh-ed25519 !!!\n"), 0o644)
		}, []string{"fleet.yaml:37: spec.trust.commits.allowedSigners: key file trust/allowed_signers: trust/allowed_signers:"}},
		{"no key", func(dir string) {
			os.WriteFile(filepath.Join(dir, "trust/allowed_signers"), []byte("# nobody\n"), 0o644)
		}, []string{"fleet.yaml:37: spec.trust.commits.allowedSigners: key file trust/allowed_signers: holds no key"}},
		{"a folder", func(dir string) {
			os.Remove(filepath.Join(dir, "trust/cosign.pub"))
			os.Mkdir(filepath.Join(dir, "trust/cosign.pub"), 0o755)
		}, []string{"fleet.yaml:39: spec.trust.images.keys[0]: key file trust/cosign.pub: not a regular file"}},
		{"openpgp missing", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "fleet.yaml"))
			s := strings.Replace(string(b), "allowedSigners: trust/allowed_signers", "allowedSigners: trust/allowed_signers\n      openpgpKeys: [trust/ops.asc]", 1)
			os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(s), 0o644)
		}, []string{"fleet.yaml:38: spec.trust.commits.openpgpKeys[0]: key file trust/ops.asc does not exist in the repo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyExample(t)
			tc.change(dir)
			r := fleetctl(t, "validate", dir)
			if r.code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}
