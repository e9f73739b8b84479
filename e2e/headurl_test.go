package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/nginxtest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/status"
)

// TestHeadURL runs fleetd with fleet.yaml's spec.poll.url served by nginx
// and published by the shipped post-receive hook. A head URL that names a
// commit not on the branch is never applied; the status report says which
// path the polls take.
func TestHeadURL(t *testing.T) {
	ctd := runtimetest.StartT(t)
	root := t.TempDir()
	headFile := filepath.Join(root, "fleet", "main")
	web := nginxtest.StartT(t, nginxtest.Config{Root: root})

	repo := gittest.NewRepo(t)
	hook, err := os.ReadFile("../packaging/post-receive-head")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo.BareDir, "hooks", "post-receive"), hook, 0o755); err != nil {
		t.Fatal(err)
	}
	repo.BareGit("config", "gitfleet.headFile", headFile)
	repo.Write("fleet.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: e2e}\nspec:\n  pollInterval: 1s\n  poll: {url: \""+web.URL+"/fleet/main\"}\n")
	repo.Write("nodes/press-01.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: press-01\n  labels: {site: plant-1}\n")
	first := repo.Commit("fleet with a head URL")
	url := gittest.ServeHTTP(t, repo.BareParent, "", "") + "/" + repo.Name

	a := newAgent(t, repo, url, ctd.Address, "press-01", "", "--insecure-skip-verify", "--namespace", "headurl")
	d := a.start("1s")
	// waitReport waits until the node's report satisfies ok.
	waitReport := func(what string, ok func(st status.Status) bool) status.Status {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if repo.RemoteRef("refs/heads/status/press-01") != "" {
				if st := a.report().Status; ok(st) {
					return st
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no report where %s:\n%s", what, d.output())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitReport("polls go via the head URL", func(st status.Status) bool {
		return st.AppliedRevision == first && st.Poll != nil && st.Poll.Via == status.PollViaHeadURL
	})

	// A commit with a workload, on another branch, named by the head URL.
	gittest.Git(t, repo.Dir, "checkout", "-q", "-b", "unmerged")
	repo.Write("groups/all.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: all}\nspec:\n  selector: {matchLabels: {site: plant-1}}\n  workloads: [evil]\n")
	repo.Write("workloads/evil.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: evil}\nspec:\n  image: registry.example.com/evil@sha256:"+strings.Repeat("e", 64)+"\n")
	gittest.Git(t, repo.Dir, "add", "-A")
	gittest.Git(t, repo.Dir, "commit", "-q", "-m", "not on main")
	unmerged := strings.TrimSpace(gittest.Git(t, repo.Dir, "rev-parse", "HEAD"))
	gittest.Git(t, repo.Dir, "push", "-q", "origin", "unmerged")
	gittest.Git(t, repo.Dir, "checkout", "-q", "main")
	prev, _ := os.Stat(headFile)
	if err := os.WriteFile(headFile, []byte(unmerged+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next := prev.ModTime().Add(time.Second)
	os.Chtimes(headFile, next, next)

	st := waitReport("the lie is noticed", func(st status.Status) bool {
		return st.Poll != nil && st.Poll.Via == status.PollViaGit
	})
	if st.AppliedRevision != first || st.ObservedRevision != first || !strings.Contains(st.Poll.Message, "disagrees") {
		t.Errorf("after a lying head URL: applied %.7s, observed %.7s, poll %+v; want %.7s and a poll via git that says why",
			st.AppliedRevision, st.ObservedRevision, st.Poll, first)
	}
	if n := len(a.instances()); n != 0 {
		t.Errorf("%d containers run after a lying head URL, want none", n)
	}

	// An honest push: the hook publishes it, fleetd applies it.
	repo.Write("nodes/press-01.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata:\n  name: press-01\n  labels: {site: plant-1, line: a}\n")
	second := repo.Commit("press-01 on line a")
	waitReport("the pushed head is applied via the head URL", func(st status.Status) bool {
		return st.AppliedRevision == second && st.Poll != nil && st.Poll.Via == status.PollViaHeadURL
	})
}
