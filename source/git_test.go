package source_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/source"
)

func fleetRepo(t *testing.T) (*gittest.Repo, string) {
	t.Helper()
	r := gittest.NewRepo(t)
	r.Write("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: plant-1}\n")
	r.Write("workloads/detector.yaml", "kind: Workload\nmetadata: {name: detector}\n")
	r.Write("groups/line-a.yaml", "kind: Group\n")
	r.Write("nodes/press-01.yaml", "kind: Node\nmetadata: {name: press-01}\n")
	r.Write("nodes/press-02.yaml", "kind: Node\nmetadata: {name: press-02}\n")
	r.Write("bin/hook.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(r.Dir, "bin/hook.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	return r, r.Commit("first")
}

func newGit(t *testing.T, cfg source.Config) *source.Git {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	g, err := source.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func readFile(t *testing.T, fsys fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTransports(t *testing.T) {
	r, sha := fleetRepo(t)
	sshURL, key, knownHosts := gittest.ServeSSH(t, r.BareParent)
	tests := []struct {
		name string
		cfg  source.Config
	}{
		{"file", source.Config{Location: loc(t, gittest.FileURL(r.BareDir))}},
		{"daemon", source.Config{Location: loc(t, gittest.ServeDaemon(t, r.BareParent)+"/"+r.Name)}},
		{"http", source.Config{Location: loc(t, gittest.ServeHTTP(t, r.BareParent, "", "")+"/"+r.Name)}},
		{"http-auth", source.Config{Location: loc(t, gittest.ServeHTTP(t, r.BareParent, "fleetd", "s3cret-token")+"/"+r.Name, source.Auth{Username: "fleetd", Password: "s3cret-token"})}},
		{"http-url-creds", source.Config{Location: loc(t, strings.Replace(gittest.ServeHTTP(t, r.BareParent, "fleetd", "s3cret-token"), "http://", "http://fleetd:s3cret-token@", 1)+"/"+r.Name)}},
		{"ssh", source.Config{Location: loc(t, sshURL+"/"+r.Name, source.Auth{SSHKeyFile: key, KnownHostsFile: knownHosts})}},
		{"path", source.Config{Location: loc(t, r.BareDir)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			g := newGit(t, tt.cfg)
			head, err := g.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head != sha {
				t.Fatalf("Head = %s, want %s", head, sha)
			}
			fsys, err := g.Tree(ctx, head)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, fsys, "nodes/press-01.yaml"); !strings.Contains(got, "press-01") {
				t.Errorf("nodes/press-01.yaml = %q", got)
			}
			if err := fstest.TestFS(fsys, "fleet.yaml", "workloads/detector.yaml", "groups/line-a.yaml",
				"nodes/press-01.yaml", "nodes/press-02.yaml", "bin/hook.sh"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTreeFSDetails(t *testing.T) {
	r, sha := fleetRepo(t)
	g := newGit(t, source.Config{Location: loc(t, gittest.FileURL(r.BareDir))})
	fsys, err := g.Tree(context.Background(), sha)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := fs.Stat(fsys, "bin/hook.sh")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode(), fs.FileMode(0o555); got != want {
		t.Errorf("bin/hook.sh mode = %v, want %v", got, want)
	}
	for _, name := range []string{"missing.yaml", "fleet.yaml/x", "nodes/missing.yaml"} {
		if _, err := fsys.Open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want ErrNotExist", name, err)
		}
	}
	for _, name := range []string{"/fleet.yaml", "../x", "nodes/", ""} {
		if _, err := fsys.Open(name); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := g.Tree(context.Background(), "not-a-hash"); err == nil {
		t.Error("Tree(not-a-hash) succeeded")
	}
}

// objects lists the files under the store's objects directory.
func objects(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestNoOpPollDoesNotFetch(t *testing.T) {
	r, sha := fleetRepo(t)
	dir := t.TempDir()
	g := newGit(t, source.Config{Location: loc(t, gittest.ServeHTTP(t, r.BareParent, "", "")+"/"+r.Name), Dir: dir})
	ctx := context.Background()
	if _, err := g.Tree(ctx, sha); err != nil {
		t.Fatal(err)
	}
	before := strings.Join(objects(t, dir), "\n")
	for range 3 {
		head, err := g.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Tree(ctx, head); err != nil {
			t.Fatal(err)
		}
	}
	if after := strings.Join(objects(t, dir), "\n"); after != before {
		t.Errorf("objects changed by no-op polls:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The same store also serves a new Git (an agent restart) without fetching.
	g2 := newGit(t, source.Config{Location: loc(t, "http://127.0.0.1:1/unreachable.git"), Dir: dir})
	if _, err := g2.Tree(ctx, sha); err != nil {
		t.Fatalf("Tree of a stored commit after restart: %v", err)
	}
}

func TestNewCommitsAndForcePush(t *testing.T) {
	r, first := fleetRepo(t)
	for _, tr := range []struct{ name, url string }{
		{"file", gittest.FileURL(r.BareDir)},
		{"http", gittest.ServeHTTP(t, r.BareParent, "", "") + "/" + r.Name},
	} {
		t.Run(tr.name, func(t *testing.T) {
			dir := t.TempDir()
			g := newGit(t, source.Config{Location: loc(t, tr.url), Dir: dir})
			ctx := context.Background()
			check := func(rev, file, want string) {
				t.Helper()
				head, err := g.Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if head != rev {
					t.Fatalf("Head = %s, want %s", head, rev)
				}
				fsys, err := g.Tree(ctx, head)
				if err != nil {
					t.Fatalf("Tree(%s): %v", head, err)
				}
				if got := readFile(t, fsys, file); got != want {
					t.Fatalf("%s at %s = %q, want %q", file, rev, got, want)
				}
			}
			r.Reset(first)
			r.ForcePush()
			check(first, "groups/line-a.yaml", "kind: Group\n")
			// Fast-forwards, more of them than the store keeps packs for.
			for i := range 20 {
				content := strings.Repeat("x", i) + "\n"
				r.Write("groups/line-a.yaml", content)
				r.Write("nodes/press-"+string(rune('a'+i))+".yaml", content)
				check(r.Commit("ff"), "groups/line-a.yaml", content)
			}
			// A force-push back onto the first commit's history.
			r.Reset(first)
			r.Write("fleet.yaml", "rewritten\n")
			check(r.Commit("rewrite"), "fleet.yaml", "rewritten\n")
			// And back to a commit the store already has.
			r.Reset(first)
			r.ForcePush()
			check(first, "fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: plant-1}\n")
			if n := len(objects(t, dir)); n > 2*16+4 {
				t.Errorf("store holds %d files under objects/, want it bounded", n)
			}
		})
	}
}

func TestTreeRevisionGone(t *testing.T) {
	r, first := fleetRepo(t)
	g := newGit(t, source.Config{Location: loc(t, gittest.FileURL(r.BareDir))})
	r.Write("fleet.yaml", "two\n")
	r.Commit("two")
	_, err := g.Tree(context.Background(), first)
	if !errors.Is(err, source.ErrRevisionNotFound) {
		t.Fatalf("Tree(old rev) = %v, want ErrRevisionNotFound", err)
	}
	if !fault.Is(err, fault.Transient) {
		t.Errorf("class of %q = %s, want retrying", err, fault.ClassOf(err))
	}
}

func TestWrongPassword(t *testing.T) {
	r, _ := fleetRepo(t)
	base := gittest.ServeHTTP(t, r.BareParent, "fleetd", "right-password")
	for _, cfg := range []source.Config{
		{Location: loc(t, base+"/"+r.Name, source.Auth{Username: "fleetd", Password: "wrong-password"})},
		{Location: loc(t, strings.Replace(base, "http://", "http://fleetd:wrong-password@", 1)+"/"+r.Name)},
	} {
		g := newGit(t, cfg)
		_, err := g.Head(context.Background())
		checkAuthError(t, err, "wrong-password")
		_, err = g.Tree(context.Background(), strings.Repeat("a", 40))
		checkAuthError(t, err, "wrong-password")
	}
}

func TestWrongSSHKey(t *testing.T) {
	r, _ := fleetRepo(t)
	url, _, knownHosts := gittest.ServeSSH(t, r.BareParent)
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	g := newGit(t, source.Config{Location: loc(t, url+"/"+r.Name, source.Auth{SSHKeyFile: other, KnownHostsFile: knownHosts})})
	_, err := g.Head(context.Background())
	checkAuthError(t, err, "")
}

func checkAuthError(t *testing.T, err error, secret string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error with wrong credentials")
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("error %q does not wrap ErrAuthenticationRequired", err)
	}
	if fault.Is(err, fault.Transient) {
		t.Errorf("class of %q = %s, want refused", err, fault.ClassOf(err))
	}
	msg := err.Error()
	if secret != "" && strings.Contains(msg, secret) {
		t.Errorf("error %q shows the password", msg)
	}
	if !strings.Contains(msg, "refs/heads/main") || !strings.Contains(msg, "127.0.0.1") {
		t.Errorf("error %q does not name the url and ref", msg)
	}
}

func TestWrongHostKey(t *testing.T) {
	r, _ := fleetRepo(t)
	url, key, _ := gittest.ServeSSH(t, r.BareParent)
	_, _, otherKnownHosts := gittest.ServeSSH(t, r.BareParent)
	// The other server's known_hosts names another port: rewrite it to this one.
	b, err := os.ReadFile(otherKnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	port := url[strings.LastIndex(url, ":")+1:]
	port = port[:strings.Index(port, "/")]
	fields := strings.Fields(string(b))
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte("[127.0.0.1]:"+port+" "+fields[1]+" "+fields[2]+"\n"), 0o600)
	g := newGit(t, source.Config{Location: loc(t, url+"/"+r.Name, source.Auth{SSHKeyFile: key, KnownHostsFile: kh})})
	_, err = g.Head(context.Background())
	if err == nil {
		t.Fatal("no error with a wrong host key")
	}
	t.Logf("error: %v", err)
	if fault.Is(err, fault.Transient) {
		t.Errorf("class of %q = %s, want refused", err, fault.ClassOf(err))
	}
}

func TestServerDown(t *testing.T) {
	port := porttest.Port(t)
	for _, url := range []string{
		"http://127.0.0.1:" + itoa(port) + "/fleet.git",
		"git://127.0.0.1:" + itoa(port) + "/fleet.git",
		"ssh://root@127.0.0.1:" + itoa(port) + "/fleet.git",
	} {
		g := newGit(t, source.Config{Location: loc(t, url)})
		_, err := g.Head(context.Background())
		if err == nil {
			t.Fatalf("%s: Head succeeded", url)
		}
		if !fault.Is(err, fault.Transient) {
			t.Errorf("class of %q = %s, want retrying", err, fault.ClassOf(err))
		}
	}
}

func TestMissingRepoAndBranch(t *testing.T) {
	r, _ := fleetRepo(t)
	base := gittest.ServeHTTP(t, r.BareParent, "", "")
	_, err := newGit(t, source.Config{Location: loc(t, base+"/nope.git")}).Head(context.Background())
	if err == nil || fault.Is(err, fault.Transient) {
		t.Errorf("missing repo: err = %v, want a permanent error", err)
	}
	_, err = newGit(t, source.Config{Location: loc(t, base+"/"+r.Name), Branch: "nope"}).Head(context.Background())
	if !errors.Is(err, source.ErrBranchNotFound) || fault.Is(err, fault.Transient) {
		t.Errorf("missing branch: err = %v, want permanent ErrBranchNotFound", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
