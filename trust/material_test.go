package trust

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// sshKey is a key pair made by ssh-keygen.
type sshKey struct {
	priv, pub string // file paths
	line      string // "type base64 comment"
	fp        string // SHA256:…
}

func newSSHKey(t *testing.T, typ string) sshKey {
	t.Helper()
	priv := filepath.Join(t.TempDir(), "id_"+typ)
	run(t, nil, "ssh-keygen", "-q", "-t", typ, "-N", "", "-C", "test-"+typ, "-f", priv)
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fp := strings.Fields(run(t, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", priv+".pub"))[1]
	return sshKey{priv: priv, pub: priv + ".pub", line: strings.TrimSpace(string(pub)), fp: fp}
}

// signer returns the git options and environment that sign with the key.
func (k sshKey) sign() signer {
	return signer{args: []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + k.priv}}
}

// gpgKey is an OpenPGP key in its own GNUPGHOME, without passphrase.
type gpgKey struct {
	home    string
	fpr     string
	armored []byte
	binary  []byte
}

func newGPGKey(t *testing.T, name string) gpgKey {
	t.Helper()
	home, err := os.MkdirTemp("", "gpg") // short: gpg-agent's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	env := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	params := filepath.Join(home, "params")
	p := fmt.Sprintf("%%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nName-Real: %s\nName-Email: %s@example.com\nExpire-Date: 0\n%%commit\n", name, strings.ToLower(name))
	if err := os.WriteFile(params, []byte(p), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, env, "gpg", "--batch", "--quiet", "--gen-key", params)
	var fpr string
	for _, line := range strings.Split(run(t, env, "gpg", "--batch", "--with-colons", "--list-keys"), "\n") {
		if strings.HasPrefix(line, "fpr:") {
			fpr = strings.Split(line, ":")[9]
			break
		}
	}
	if fpr == "" {
		t.Fatal("gpg: no fingerprint")
	}
	return gpgKey{
		home:    home,
		fpr:     fpr,
		armored: []byte(run(t, env, "gpg", "--batch", "--armor", "--export", fpr)),
		binary:  []byte(run(t, env, "gpg", "--batch", "--export", fpr)),
	}
}

func (k gpgKey) sign() signer {
	return signer{
		args: []string{"-c", "gpg.format=openpgp", "-c", "gpg.program=gpg", "-c", "user.signingkey=" + k.fpr},
		env:  []string{"GNUPGHOME=" + k.home},
	}
}

// signer holds the git options that make "commit -S" sign; the zero
// signer does not sign.
type signer struct {
	args []string
	env  []string
}

// repo is a gittest.Repo whose commits may be signed.
type repo struct {
	*gittest.Repo
	t     *testing.T
	ticks int
	// at, when set, is the author and committer date of the next commits
	// instead of the ticking clock (a backdated commit).
	at string
}

func newRepo(t *testing.T) *repo {
	return &repo{Repo: gittest.NewRepo(t), t: t}
}

// git runs git in the work tree with deterministic dates.
func (r *repo) git(s signer, args ...string) string {
	r.t.Helper()
	cmd := gittest.Command(r.Dir, append(append([]string{}, s.args...), args...)...)
	date := fmt.Sprintf("@%d +0000", 1700000000+r.ticks*60)
	if r.at != "" {
		date = r.at
	}
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	cmd.Env = append(cmd.Env, s.env...)
	return runCmd(r.t, cmd)
}

// commit commits every change, signed by s unless s is the zero signer,
// pushes main to the bare repository and returns the commit's hash.
func (r *repo) commit(s signer, msg string) string {
	r.t.Helper()
	r.ticks++
	r.git(s, "add", "-A")
	args := []string{"commit", "-q", "--allow-empty", "-m", msg}
	if s.args != nil {
		args = append(args, "-S")
	}
	r.git(s, args...)
	r.ForcePush()
	return r.Head()
}

// writeObject writes a raw commit into the work tree's repository, points
// main at it and pushes; it returns the hash.
func (r *repo) writeObject(raw string) string {
	r.t.Helper()
	cmd := gittest.Command(r.Dir, "hash-object", "-t", "commit", "-w", "--stdin", "--literally")
	cmd.Stdin = strings.NewReader(raw)
	h := strings.TrimSpace(runCmd(r.t, cmd))
	r.git(signer{}, "update-ref", "refs/heads/main", h)
	r.git(signer{}, "reset", "-q", "--hard", h)
	r.ForcePush()
	return h
}

func (r *repo) open() (*git.Repository, error) { return git.PlainOpen(r.BareDir) }

func (r *repo) commitObject(h string) *object.Commit {
	r.t.Helper()
	g, err := r.open()
	if err != nil {
		r.t.Fatal(err)
	}
	c, err := g.CommitObject(plumbing.NewHash(h))
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// verifyCommitGit runs git verify-commit --raw with the given allowed
// signers file and GNUPGHOME and returns its output and whether it passed.
func (r *repo) verifyCommitGit(rev, allowedSigners, gnupgHome string) (string, bool) {
	r.t.Helper()
	args := []string{"-c", "gpg.program=gpg"}
	if allowedSigners != "" {
		args = append(args, "-c", "gpg.ssh.allowedSignersFile="+allowedSigners)
	}
	cmd := gittest.Command(r.Dir, append(args, "verify-commit", "--raw", rev)...)
	if gnupgHome != "" {
		cmd.Env = append(cmd.Env, "GNUPGHOME="+gnupgHome)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	return runCmd(t, cmd)
}

func runCmd(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return string(out)
}

// writeFile writes content into a fresh temp file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseSet parses files into a TrustSet or fails the test.
func parseSet(t *testing.T, files map[string]string) *TrustSet {
	t.Helper()
	m := map[string][]byte{}
	for k, v := range files {
		m[k] = []byte(v)
	}
	ts, err := Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
