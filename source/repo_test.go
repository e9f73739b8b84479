package source_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

// history is a fleet repo with five commits on main (oldest first), a
// branch "next", a tag and a pull-request ref.
func history(t *testing.T) (*gittest.Repo, []string) {
	t.Helper()
	r, first := fleetRepo(t)
	revs := []string{first}
	for _, v := range []string{"2", "3", "4", "5"} {
		r.Write("groups/line-a.yaml", "kind: Group\n# "+v+"\n")
		revs = append(revs, r.Commit("change "+v))
	}
	for _, dir := range []string{r.Dir, r.BareDir} {
		gittest.Git(t, dir, "branch", "next", revs[2])
		gittest.Git(t, dir, "tag", "v1", revs[1])
		gittest.Git(t, dir, "update-ref", "refs/pull/7/head", revs[3])
		gittest.Git(t, dir, "update-ref", "refs/heads/status/n1", revs[0])
	}
	return r, revs
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	r, revs := history(t)
	sshURL, key, knownHosts := gittest.ServeSSH(t, r.BareParent)
	locs := map[string]source.Location{
		"worktree":  loc(t, r.Dir),
		"subfolder": loc(t, filepath.Join(r.Dir, "nodes")),
		"bare-path": loc(t, r.BareDir),
		"file-url":  loc(t, gittest.FileURL(r.BareDir)),
		"daemon":    loc(t, gittest.ServeDaemon(t, r.BareParent)+"/"+r.Name),
		"http":      loc(t, gittest.ServeHTTP(t, r.BareParent, "", "")+"/"+r.Name),
		"ssh":       loc(t, sshURL+"/"+r.Name, source.Auth{SSHKeyFile: key, KnownHostsFile: knownHosts}),
	}
	for name, l := range locs {
		t.Run(name, func(t *testing.T) {
			repo, err := source.Open(ctx, l, source.OpenOptions{Refs: []string{"refs/pull/7/head", "main~1"}})
			if err != nil {
				t.Fatal(err)
			}
			for rev, want := range map[string]string{
				"main": revs[4], "HEAD": revs[4], "main~1": revs[3], "next": revs[2], "v1": revs[1],
				"refs/pull/7/head": revs[3], revs[0]: revs[0],
			} {
				c, err := repo.Commit(rev)
				if err != nil || c.Hash.String() != want {
					t.Errorf("Commit(%s) = %v, %v; want %s", rev, c, err, want)
				}
			}
			if head, err := repo.Branch("main"); err != nil || head != revs[4] {
				t.Errorf("Branch(main) = %s, %v; want %s", head, err, revs[4])
			}
			if _, err := repo.Branch("nope"); !errors.Is(err, source.ErrBranchNotFound) {
				t.Errorf("Branch(nope) = %v, want ErrBranchNotFound", err)
			}
			fsys, rev, err := repo.Tree("main~3")
			if err != nil || rev != revs[1] {
				t.Fatalf("Tree(main~3) = %s, %v; want %s", rev, err, revs[1])
			}
			if got := readFile(t, fsys, "groups/line-a.yaml"); got != "kind: Group\n# 2\n" {
				t.Errorf("groups/line-a.yaml at main~3 = %q", got)
			}
			if p, err := repo.Parents(revs[2]); err != nil || len(p) != 1 || p[0] != revs[1] {
				t.Errorf("Parents(%s) = %q, %v; want [%s]", revs[2], p, err, revs[1])
			}
			if _, err := repo.Commit("no-such-rev"); err == nil {
				t.Error("Commit(no-such-rev) succeeded")
			}
		})
	}
}

// TestOpenBranchDepth fetches one branch with a bounded history, as the
// overview does.
func TestOpenBranchDepth(t *testing.T) {
	ctx := context.Background()
	r, revs := history(t)
	l := loc(t, gittest.ServeHTTP(t, r.BareParent, "", "")+"/"+r.Name)
	repo, err := source.Open(ctx, l, source.OpenOptions{Branch: "main", Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if head, err := repo.Branch("main"); err != nil || head != revs[4] {
		t.Fatalf("Branch(main) = %s, %v; want %s", head, err, revs[4])
	}
	if _, err := repo.Branch("next"); !errors.Is(err, source.ErrBranchNotFound) {
		t.Errorf("Branch(next) = %v, want ErrBranchNotFound: only main is fetched", err)
	}
	if p, err := repo.Parents(revs[4]); err != nil || len(p) != 1 || p[0] != revs[3] {
		t.Errorf("Parents(head) = %q, %v; want [%s]", p, err, revs[3])
	}
	// revs[3] is the shallow boundary: its parent was not fetched.
	if _, err := repo.Parents(revs[2]); !errors.Is(err, source.ErrRevisionNotFound) {
		t.Errorf("Parents beyond the fetched history = %v, want ErrRevisionNotFound", err)
	}

	_, err = source.Open(ctx, l, source.OpenOptions{Branch: "prod"})
	if !errors.Is(err, source.ErrBranchNotFound) || fault.Is(err, fault.Transient) {
		t.Errorf("Open(branch prod) = %v, want a permanent ErrBranchNotFound", err)
	}
}

func TestOpenFails(t *testing.T) {
	ctx := context.Background()
	r, _ := history(t)
	base := gittest.ServeHTTP(t, r.BareParent, "fleet", "right-password")
	_, err := source.Open(ctx, loc(t, base+"/"+r.Name, source.Auth{Username: "fleet", Password: "wrong-password"}), source.OpenOptions{})
	if !errors.Is(err, transport.ErrAuthenticationRequired) || strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("Open with a wrong password = %v, want ErrAuthenticationRequired without the password", err)
	}
	missing := filepath.Join(t.TempDir(), "none.git")
	if _, err := source.Open(ctx, loc(t, missing), source.OpenOptions{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open(%s) = %v, want an error naming the path", missing, err)
	}
	empty := gittest.NewRepo(t)
	_, err = source.Open(ctx, loc(t, gittest.ServeHTTP(t, empty.BareParent, "", "")+"/"+empty.Name), source.OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "no branch") {
		t.Errorf("Open(empty remote) = %v, want an error saying it has no branch", err)
	}
}

// TestOpenPacked: a local repository whose objects are in packs (deltas of
// one another, as git repack writes them) reads at every revision as git
// shows it (Open serves pack files from memory).
func TestOpenPacked(t *testing.T) {
	r, revs := history(t)
	gittest.Git(t, r.BareDir, "repack", "-a", "-d", "--depth=50", "--window=50")
	repo, err := source.Open(context.Background(), loc(t, r.BareDir), source.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, rev := range revs {
		fsys, _, err := repo.Tree(rev)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range strings.Fields(gittest.Git(t, r.BareDir, "ls-tree", "-r", "--name-only", rev)) {
			files++
			if got, want := readFile(t, fsys, name), gittest.Git(t, r.BareDir, "show", rev+":"+name); got != want {
				t.Errorf("%s at %s = %q, git shows %q", name, rev, got, want)
			}
		}
	}
	if files < len(revs) {
		t.Errorf("%d files read in %d revisions", files, len(revs))
	}
}
