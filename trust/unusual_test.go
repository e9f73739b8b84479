package trust

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnusualCommits checks the commits whose signed bytes a re-encoding
// could get wrong, against git verify-commit on the same commits.
func TestUnusualCommits(t *testing.T) {
	alice := newSSHKey(t, "ed25519")
	ops := newGPGKey(t, "Ops")
	signers := "alice " + alice.line + "\n"
	allowed := writeFile(t, "allowed_signers", signers)
	ts := parseSet(t, map[string]string{"allowed_signers": signers, "ops.asc": string(ops.armored)})
	r := newRepo(t)
	r.commit(alice.sign(), "base")
	commits := map[string]string{}

	// A signed merge of a signed tag: git embeds the tag as a mergetag header.
	r.git(signer{}, "checkout", "-q", "-b", "side")
	r.Write("side.txt", "side\n")
	r.commit(alice.sign(), "side")
	r.git(alice.sign(), "tag", "-s", "-m", "release 1", "v1")
	r.git(signer{}, "checkout", "-q", "main")
	r.Write("main.txt", "main\n")
	r.commit(alice.sign(), "main")
	r.ticks++
	r.git(alice.sign(), "merge", "-q", "--no-ff", "-S", "-m", "merge v1", "v1")
	r.ForcePush()
	commits["merge with mergetag (ssh)"] = r.Head()
	if raw := r.git(signer{}, "cat-file", "commit", "HEAD"); !strings.Contains(raw, "\nmergetag object ") {
		t.Fatalf("no mergetag header:\n%s", raw)
	}
	r.git(signer{}, "checkout", "-q", "side")
	r.Write("side2.txt", "side\n")
	r.commit(alice.sign(), "side 2")
	r.git(signer{}, "checkout", "-q", "main")
	r.ticks++
	r.git(ops.sign(), "merge", "-q", "--no-ff", "-S", "-m", "merge side", "side")
	r.ForcePush()
	commits["plain merge (openpgp)"] = r.Head()

	// A Latin-1 message with an encoding header.
	r.ticks++
	r.git(alice.sign(), "-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "-S", "--allow-empty", "-m", "caf\xe9")
	r.ForcePush()
	commits["encoding ISO-8859-1 (ssh)"] = r.Head()
	if raw := r.git(signer{}, "cat-file", "commit", "HEAD"); !strings.Contains(raw, "\nencoding ISO-8859-1\n") {
		t.Fatalf("no encoding header:\n%s", raw)
	}

	// Unknown headers, one spanning lines, with the signature at the end of
	// the header block (where git puts it) or in the middle.
	head := r.Head()
	tree := strings.TrimSpace(r.git(signer{}, "rev-parse", "HEAD^{tree}"))
	headers := []string{
		"tree " + tree,
		"parent " + head,
		"author Gitfleet Test <test@gitfleet.invalid> 1700009000 +0100",
		"committer Gitfleet Test <test@gitfleet.invalid> 1700009000 -0230",
		"x-custom value",
		"x-multi first\n second line",
		"change-id zzzzzzzz",
	}
	payload := strings.Join(headers, "\n") + "\n\ncrafted\n\nwith a body\n"
	sig := sshSign(t, alice, payload)
	sigHeader := "gpgsig " + strings.ReplaceAll(strings.TrimSuffix(sig, "\n"), "\n", "\n ")
	commits["extra headers (ssh)"] = r.writeObject(strings.Join(append(headers, sigHeader), "\n") + "\n\ncrafted\n\nwith a body\n")
	mid := append(append(append([]string{}, headers[:4]...), sigHeader), headers[4:]...)
	commits["signature between headers (ssh)"] = r.writeObject(strings.Join(mid, "\n") + "\n\ncrafted\n\nwith a body\n")

	for name, h := range commits {
		t.Run(name, func(t *testing.T) {
			out, gitOK := r.verifyCommitGit(h, allowed, ops.home)
			if !gitOK {
				t.Fatalf("git verify-commit refused it:\n%s", out)
			}
			if _, err := ts.VerifyCommit(r.commitObject(h)); err != nil {
				t.Fatalf("git verifies it, gitfleet does not: %v", err)
			}
		})
	}

	// Two signatures in one commit: refused (as git and go-git's Verify do).
	twice := r.writeObject(strings.Join(append(headers, sigHeader, sigHeader), "\n") + "\n\ncrafted\n\nwith a body\n")
	_, err := ts.VerifyCommit(r.commitObject(twice))
	wantRefused(t, err, twice, "2 signature blocks, want exactly 1")

	// gpgsig-sha256 alone (a SHA-256 repository's header in a SHA-1 one):
	// go-git does not expose it and git ignores it here; both refuse it.
	sha256Only := r.writeObject(strings.Join(headers, "\n") + "\n" + strings.Replace(sigHeader, "gpgsig ", "gpgsig-sha256 ", 1) + "\n\ncrafted\n\nwith a body\n")
	if out, ok := r.verifyCommitGit(sha256Only, allowed, ops.home); ok {
		t.Errorf("git verify-commit accepted a gpgsig-sha256-only commit:\n%s", out)
	}
	err = NewVerifier(r.open, ts, Options{}).VerifyCommit(context.Background(), sha256Only, "")
	wantRefused(t, err, sha256Only, "gpgsig-sha256")
}

// sshSign signs payload as git does with gpg.format=ssh.
func sshSign(t *testing.T, k sshKey, payload string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(f, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, "ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", k.priv, f)
	sig, err := os.ReadFile(f + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return string(sig)
}
