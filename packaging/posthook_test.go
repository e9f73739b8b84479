package packaging_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// The shipped post-receive-head hook publishes pushes to the tracked branch
// only. A push that does not touch it (the nodes' status reports, tags,
// other branches) changes nothing, and a status report or a tag costs no
// process at all, not even `git config`: every node pushes its report each
// time something changes. Git's own trace (GIT_TRACE) lists each git
// command the hook runs.
func TestPostReceiveHeadSkipsOtherRefs(t *testing.T) {
	r := gittest.NewRepo(t)
	hook, err := os.ReadFile(filepath.Join(repoRoot, "packaging", "post-receive-head"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.BareDir, "hooks", "post-receive"), hook, 0o755); err != nil {
		t.Fatal(err)
	}
	headFile := filepath.Join(t.TempDir(), "heads", "main")
	r.BareGit("config", "gitfleet.headFile", headFile)
	r.Write("fleet.yaml", "kind: Fleet\n")
	first := r.Commit("first")
	if got := readHead(t, headFile); got != first {
		t.Fatalf("after a push to main the head file holds %q, want %s", got, first)
	}

	// push runs git push with git's trace on and returns the git commands
	// the push ran besides itself (receive-pack and what the hook starts).
	trace := filepath.Join(t.TempDir(), "trace")
	push := func(args ...string) []string {
		t.Helper()
		os.Remove(trace)
		cmd := gittest.Command(r.Dir, append([]string{"push", "-q", "origin"}, args...)...)
		cmd.Env = append(cmd.Env, "GIT_TRACE="+trace)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git push %v: %v\n%s", args, err, out)
		}
		b, err := os.ReadFile(trace)
		if err != nil {
			t.Fatal(err)
		}
		var configs []string
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, "built-in: git config") {
				configs = append(configs, strings.TrimSpace(line))
			}
		}
		return configs
	}

	gittest.Git(t, r.Dir, "tag", "v1")
	for _, refs := range [][]string{
		{"main:refs/heads/status/press-01"},
		{"refs/tags/v1"},
		{"main:refs/heads/status/press-02", "main:refs/heads/status/press-03"},
	} {
		if configs := push(refs...); len(configs) != 0 {
			t.Errorf("push of %v: the hook ran %q, want no process", refs, configs)
		}
		if got := readHead(t, headFile); got != first {
			t.Errorf("push of %v changed the head file to %q", refs, got)
		}
	}
	if configs := push("main:other"); len(configs) != 1 {
		t.Errorf("push to another branch: the hook ran %q, want only the lookup of the tracked branch", configs)
	}
	if got := readHead(t, headFile); got != first {
		t.Errorf("a push to another branch changed the head file to %q", got)
	}

	// A push of the branch beside a status report is published.
	r.Write("fleet.yaml", "kind: Fleet # 2\n")
	gittest.Git(t, r.Dir, "commit", "-qam", "second")
	second := r.Head()
	push("main", "main:refs/heads/status/press-01")
	if got := readHead(t, headFile); got != second {
		t.Errorf("after a push of main and a status report the head file holds %q, want %s", got, second)
	}

	// The tracked branch is the one gitfleet.headBranch names; deleting
	// it removes the file.
	r.BareGit("config", "gitfleet.headBranch", "other")
	r.Write("fleet.yaml", "kind: Fleet # 3\n")
	third := r.Commit("third")
	if got := readHead(t, headFile); got != second {
		t.Errorf("a push to main, no longer tracked, changed the head file to %q", got)
	}
	push("main:other")
	if got := readHead(t, headFile); got != third {
		t.Errorf("after a push to the tracked branch other the head file holds %q, want %s", got, third)
	}
	push(":other")
	if _, err := os.Stat(headFile); !os.IsNotExist(err) {
		t.Errorf("after the tracked branch was deleted the head file is still there (%v)", err)
	}
}

// readHead returns the id in the head file, or "" when there is none.
func readHead(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
