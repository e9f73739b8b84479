// Package gittest builds real git repositories and serves them over real
// git servers (git daemon, git http-backend, sshd) for tests. Every helper
// takes a testing.TB, cleans up after the test and fails it (never skips)
// when something cannot be set up.
package gittest

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Repo is a non-bare repository on branch main whose commits are pushed to
// a bare repository (BareDir) that the servers of this package can serve.
type Repo struct {
	t testing.TB
	// Dir is the work tree.
	Dir string
	// BareParent is the directory holding BareDir; pass it to the Serve
	// functions, and append Name to the URL they return.
	BareParent string
	// BareDir is the bare repository the commits are pushed to.
	BareDir string
	// Name is BareDir's base name ("fleet.git").
	Name string

	ticks int
}

// NewRepo creates an empty work tree on branch main and a bare repository
// BareParent/fleet.git to push to.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	tmp := t.TempDir()
	r := &Repo{
		t:          t,
		Dir:        filepath.Join(tmp, "work"),
		BareParent: filepath.Join(tmp, "srv"),
		Name:       "fleet.git",
	}
	r.BareDir = filepath.Join(r.BareParent, r.Name)
	Git(t, "", "init", "-q", "-b", "main", r.Dir)
	Git(t, "", "init", "-q", "--bare", "-b", "main", r.BareDir)
	// Pushes over HTTP (status reports) need receive-pack enabled.
	Git(t, r.BareDir, "config", "http.receivepack", "true")
	Git(t, r.Dir, "remote", "add", "origin", r.BareDir)
	return r
}

// Write writes content to path (slash-separated, relative to the work tree).
func (r *Repo) Write(path, content string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Remove deletes path from the work tree.
func (r *Repo) Remove(path string) {
	r.t.Helper()
	if err := os.RemoveAll(filepath.Join(r.Dir, filepath.FromSlash(path))); err != nil {
		r.t.Fatal(err)
	}
}

// Commit commits every change in the work tree, pushes main to BareDir
// (with --force, so a Reset followed by Commit is a force-push) and returns
// the new commit's hash. Author, committer and dates are deterministic.
func (r *Repo) Commit(msg string) string {
	r.t.Helper()
	r.ticks++
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	r.git("push", "-q", "--force", "origin", "main")
	return r.Head()
}

// Reset moves main (and the work tree) back to rev; the next Commit
// force-pushes.
func (r *Repo) Reset(rev string) {
	r.t.Helper()
	r.git("reset", "-q", "--hard", rev)
}

// ForcePush pushes the current main to BareDir with --force.
func (r *Repo) ForcePush() {
	r.t.Helper()
	r.git("push", "-q", "--force", "origin", "main")
}

// Head returns the hash main points at in the work tree.
func (r *Repo) Head() string {
	r.t.Helper()
	return strings.TrimSpace(r.git("rev-parse", "HEAD"))
}

// RemoteRef returns the hash ref points at in BareDir, or "" if it does not exist.
func (r *Repo) RemoteRef(ref string) string {
	r.t.Helper()
	out, err := Command(r.BareDir, "rev-parse", "--verify", "-q", ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// BareGit runs git in BareDir and returns its standard output.
func (r *Repo) BareGit(args ...string) string {
	r.t.Helper()
	return Git(r.t, r.BareDir, args...)
}

func (r *Repo) git(args ...string) string {
	r.t.Helper()
	cmd := Command(r.Dir, args...)
	date := fmt.Sprintf("@%d +0000", 1700000000+r.ticks*60)
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	return run(r.t, cmd)
}

// Command returns a git command run in dir (when not empty) with a fixed
// identity and no user or system configuration.
func Command(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Gitfleet Test",
		"GIT_AUTHOR_EMAIL=test@gitfleet.invalid",
		"GIT_COMMITTER_NAME=Gitfleet Test",
		"GIT_COMMITTER_EMAIL=test@gitfleet.invalid",
		"GIT_TERMINAL_PROMPT=0",
	)
	return cmd
}

// repoEnv are the variables by which git in a hook, a rebase or a bisect
// tells child processes which repository they are in: inherited, they
// would point a fixture's git at the developer's own repository.
var repoEnv = []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_CEILING_DIRECTORIES"}

// cleanEnv is the process environment without repoEnv.
func cleanEnv() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(repoEnv, name)
	})
}

// Git runs git in dir and returns its standard output; it fails the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return run(t, Command(dir, args...))
}

func run(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	return stdout.String()
}

// FileURL returns the file:// URL of the repository at path.
func FileURL(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}
