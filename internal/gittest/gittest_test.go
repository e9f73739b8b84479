package gittest

import (
	"strings"
	"testing"
)

func TestServers(t *testing.T) {
	r := NewRepo(t)
	r.Write("a.txt", "hello\n")
	sha := r.Commit("first")
	if got := r.RemoteRef("refs/heads/main"); got != sha {
		t.Fatalf("bare main = %q, want %q", got, sha)
	}
	sshURL, key, kh := ServeSSH(t, r.BareParent)
	for name, url := range map[string]string{
		"file":   FileURL(r.BareDir),
		"daemon": ServeDaemon(t, r.BareParent) + "/" + r.Name,
		"http":   ServeHTTP(t, r.BareParent, "", "") + "/" + r.Name,
		"ssh":    sshURL + "/" + r.Name,
	} {
		t.Run(name, func(t *testing.T) {
			cmd := Command("", "ls-remote", url, "refs/heads/main")
			cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh -i "+key+" -o UserKnownHostsFile="+kh+" -o IdentitiesOnly=yes")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("ls-remote %s: %v\n%s", url, err, out)
			}
			if !strings.HasPrefix(string(out), sha) {
				t.Fatalf("ls-remote %s = %q, want %s", url, out, sha)
			}
		})
	}
}

func TestHTTPAuth(t *testing.T) {
	r := NewRepo(t)
	r.Commit("first")
	url := ServeHTTP(t, r.BareParent, "u", "p")
	if out, err := Command("", "ls-remote", url+"/"+r.Name).CombinedOutput(); err == nil {
		t.Fatalf("ls-remote without credentials succeeded: %s", out)
	}
	withCreds := strings.Replace(url, "http://", "http://u:p@", 1) + "/" + r.Name
	if out, err := Command("", "ls-remote", withCreds).CombinedOutput(); err != nil {
		t.Fatalf("ls-remote with credentials: %v\n%s", err, out)
	}
}

// A test run from a git hook, a rebase or a bisect inherits GIT_DIR and
// friends; the fixture's git must still work on the fixture, never on the
// outer repository.
func TestFixturesIgnoreAnOuterRepository(t *testing.T) {
	outer := NewRepo(t)
	outer.Write("outer.txt", "outer\n")
	outerHead := outer.Commit("outer")
	t.Setenv("GIT_DIR", outer.Dir+"/.git")
	t.Setenv("GIT_WORK_TREE", outer.Dir)
	t.Setenv("GIT_INDEX_FILE", outer.Dir+"/.git/index")

	r := NewRepo(t)
	r.Write("inner.txt", "inner\n")
	inner := r.Commit("inner")
	if inner == outerHead {
		t.Fatal("the fixture committed into the outer repository")
	}
	if got := strings.TrimSpace(Git(t, outer.Dir, "--git-dir", outer.Dir+"/.git", "rev-parse", "HEAD")); got != outerHead {
		t.Errorf("outer HEAD moved to %s, want %s", got, outerHead)
	}
	if got := r.RemoteRef("refs/heads/main"); got != inner {
		t.Errorf("fixture's bare main = %q, want %s", got, inner)
	}
}
