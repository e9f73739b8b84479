package source_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

// stickRepo is a fleet repo's bare repository owned by another user, as
// on a stick written on an operator's laptop, with a hook that would mark
// its running: git's own programs refuse such a repository. more adds
// commits before.
func stickRepo(t *testing.T, more ...func(r *gittest.Repo)) (*gittest.Repo, source.Location) {
	t.Helper()
	r, _ := fleetRepo(t)
	for _, f := range more {
		f(r)
	}
	hook := filepath.Join(r.BareDir, "hooks", "pre-receive")
	marker := filepath.Join(t.TempDir(), "hook-ran")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(marker); err == nil {
			t.Error("a hook of the repository ran")
		}
	})
	if out, err := exec.Command("chown", "-R", "4321:4321", r.BareDir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	l, err := source.LocalRepository(r.BareDir)
	if err != nil {
		t.Fatal(err)
	}
	return r, l
}

func TestLocalRepositoryReadsInProcess(t *testing.T) {
	var first, third string
	r, l := stickRepo(t, func(r *gittest.Repo) {
		first = r.Head()
		r.Write("nodes/press-03.yaml", "kind: Node\nmetadata: {name: press-03}\n")
		r.Commit("second")
		r.Write("nodes/press-04.yaml", "kind: Node\nmetadata: {name: press-04}\n")
		third = r.Commit("third")
	})
	if err := exec.Command("git", "ls-remote", r.BareDir).Run(); err == nil {
		t.Fatal("git itself reads the other user's repository: the test shows nothing")
	}
	g := newGit(t, source.Config{Location: l})
	head, err := g.Head(t.Context())
	if err != nil || head != third {
		t.Fatalf("Head = %s, %v; want %s", head, err, third)
	}
	fsys, err := g.Tree(t.Context(), head)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(fsys, "nodes/press-04.yaml"); err != nil || !strings.Contains(string(b), "press-04") {
		t.Fatalf("nodes/press-04.yaml = %q, %v", b, err)
	}
	if g.Protocol() != source.ProtocolLocal {
		t.Errorf("Protocol = %q, want %q", g.Protocol(), source.ProtocolLocal)
	}

	// A depth-1 copy holds the head alone, a deeper one reaches the first
	// commit.
	repo, err := g.Repository()
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(third))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Parent(0); err == nil {
		t.Error("a depth-1 copy holds the head's parent")
	}
	if err := g.Deepen(t.Context(), 16); err != nil {
		t.Fatal(err)
	}
	repo, _ = g.Repository()
	if _, err := repo.CommitObject(plumbing.NewHash(first)); err != nil {
		t.Errorf("after Deepen the first commit is missing: %v", err)
	}
}

func TestLocalRepositoryIncompleteIsRefused(t *testing.T) {
	r, l := stickRepo(t)
	// Remove one blob the head needs, as a copy cut short would.
	blob := strings.TrimSpace(gittest.Git(t, r.Dir, "rev-parse", "HEAD:nodes/press-02.yaml"))
	// A push of a few objects leaves them loose.
	if err := os.Remove(filepath.Join(r.BareDir, "objects", blob[:2], blob[2:])); err != nil {
		t.Fatal(err)
	}
	g := newGit(t, source.Config{Location: l})
	_, err := g.Tree(t.Context(), r.Head())
	if err == nil || fault.ClassOf(err) != fault.Refused || !errors.Is(err, source.ErrIncomplete) {
		t.Fatalf("Tree of an incomplete repository = %v (class %v), want a refusal wrapping ErrIncomplete", err, fault.ClassOf(err))
	}
}

func TestStatusWriterWritesALocalRepositoryDurably(t *testing.T) {
	r, l := stickRepo(t)
	clk := &clock{now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	w := newWriter(t, source.StatusConfig{Location: l}, "press-01", clk)
	if err := w.Report(t.Context(), report("press-01", r.Head(), "running", clk.Now())); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if err := w.Report(t.Context(), report("press-01", r.Head(), "stopped", clk.Now())); err != nil {
		t.Fatal(err)
	}
	// git itself finds a valid repository: the ref names a commit whose
	// parent is the first report, every object is there.
	git := func(args ...string) string {
		return gittest.Git(t, r.BareDir, append([]string{"-c", "safe.directory=*"}, args...)...)
	}
	git("fsck", "--strict", "--no-dangling")
	log := git("log", "--format=%s", "refs/heads/status/press-01")
	if n := strings.Count(strings.TrimSpace(log), "\n") + 1; n != 2 {
		t.Errorf("status log has %d commits, want 2:\n%s", n, log)
	}
	if _, err := os.Stat(filepath.Join(r.BareDir, "refs", "heads", "status", "press-01.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left behind: %v", err)
	}
	reps, err := source.ReadReports(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	if rep := reps["press-01"]; rep.Err != nil || rep.Status == nil || rep.Status.Status.Workloads[0].State != "stopped" {
		t.Fatalf("ReadReports = %+v", reps)
	}
}
