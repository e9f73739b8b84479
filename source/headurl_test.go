package source_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/nginxtest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// publishingRepo is a fleet repo whose bare repository runs the shipped
// post-receive-head hook, publishing main's head to headFile.
func publishingRepo(t *testing.T, headFile string) *gittest.Repo {
	t.Helper()
	r := gittest.NewRepo(t)
	hook, err := os.ReadFile("../packaging/post-receive-head")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.BareDir, "hooks", "post-receive"), hook, 0o755); err != nil {
		t.Fatal(err)
	}
	r.BareGit("config", "gitfleet.headFile", headFile)
	return r
}

// publish writes id to the head file as the hook would, for a hint that
// does not come from a push.
func publish(t *testing.T, file, id string) {
	t.Helper()
	prev := time.Now()
	if fi, err := os.Stat(file); err == nil {
		prev = fi.ModTime()
	}
	if err := os.WriteFile(file, []byte(id+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A new mtime, as the hook makes sure: nginx's validators are mtime
	// and size, and every id has the same size.
	next := prev.Add(time.Second)
	if err := os.Chtimes(file, next, next); err != nil {
		t.Fatal(err)
	}
}

func TestHeadURL(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	headFile := filepath.Join(root, "plant-1", "main")
	r := publishingRepo(t, headFile)
	r.Write("fleet.yaml", "kind: Fleet\n")
	first := r.Commit("first")
	if b, err := os.ReadFile(headFile); err != nil || strings.TrimSpace(string(b)) != first {
		t.Fatalf("the hook published %q, %v; want %s", b, err, first)
	}

	web := nginxtest.StartT(t, nginxtest.Config{Root: root})
	webURL, webProxy := gittest.ProxyURL(t, web.URL)
	gitURL, gitProxy := gittest.ProxyURL(t, gittest.ServeHTTP(t, r.BareParent, "", ""))
	g := newGit(t, source.Config{Location: loc(t, gitURL+"/"+r.Name)})
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	const maxStale = 5 * time.Minute
	h, err := source.NewHeadURL(g, source.HeadURLConfig{URL: webURL + "/plant-1/main", MaxStale: maxStale, Now: clk.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// poll calls Head once and returns what it answered, whether it asked
	// the git server, and the path the status report shows.
	poll := func(t *testing.T, want string) (askedGit bool, p *status.Poll) {
		t.Helper()
		gitProxy.Take()
		webProxy.Take()
		got, err := h.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		gitBytes, _ := gitProxy.Take()
		webBytes, _ := webProxy.Take()
		t.Logf("Head = %.7s: %d B to the git server, %d B to the web server", got, gitBytes, webBytes)
		if got != want {
			t.Fatalf("Head = %s, want %s", got, want)
		}
		return gitBytes > 0, h.PollStatus()
	}
	viaURL := func(t *testing.T, p *status.Poll) {
		t.Helper()
		if p.Via != status.PollViaHeadURL || p.Message != "" || p.Protocol != source.ProtocolV2 {
			t.Errorf("status poll = %+v, want via %s, protocol v2", p, status.PollViaHeadURL)
		}
	}
	viaGit := func(t *testing.T, p *status.Poll, why string) {
		t.Helper()
		if p.Via != status.PollViaGit || !strings.Contains(p.Message, why) {
			t.Errorf("status poll = %+v, want via git because %q", p, why)
		}
	}

	t.Run("first poll asks git", func(t *testing.T) {
		asked, p := poll(t, first)
		if !asked {
			t.Error("the first head was not confirmed by git")
		}
		viaURL(t, p)
	})
	t.Run("unchanged head URL: nothing sent to git", func(t *testing.T) {
		for range 3 {
			asked, p := poll(t, first)
			if asked {
				t.Error("a 304 from the head URL led to a git poll")
			}
			viaURL(t, p)
		}
	})
	second := r.Commit("second")
	t.Run("changed head: git poll", func(t *testing.T) {
		asked, p := poll(t, second)
		if !asked {
			t.Error("a new id did not lead to a git poll")
		}
		viaURL(t, p)
		if asked, _ := poll(t, second); asked {
			t.Error("the git server was asked again although the head URL did not change")
		}
	})
	t.Run("head URL fails: git poll", func(t *testing.T) {
		if err := os.Remove(headFile); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			asked, p := poll(t, second)
			if !asked {
				t.Error("a failed head URL did not lead to a git poll")
			}
			viaGit(t, p, "head URL unavailable: HTTP 404")
		}
		publish(t, headFile, second)
		if _, p := poll(t, second); p.Via != status.PollViaHeadURL {
			t.Errorf("status poll = %+v once the URL is back", p)
		}
	})
	t.Run("a lying head URL is never returned", func(t *testing.T) {
		// A real commit, pushed to another branch: not the tracked head.
		r.Reset(second)
		gittest.Git(t, r.Dir, "checkout", "-q", "-b", "unmerged")
		r.Write("evil.yaml", "kind: Workload\n")
		gittest.Git(t, r.Dir, "add", "-A")
		gittest.Git(t, r.Dir, "commit", "-q", "-m", "not on main")
		unmerged := strings.TrimSpace(gittest.Git(t, r.Dir, "rev-parse", "HEAD"))
		gittest.Git(t, r.Dir, "push", "-q", "origin", "unmerged")
		gittest.Git(t, r.Dir, "checkout", "-q", "main")
		for _, lie := range []string{unmerged, strings.Repeat("e", 40)} {
			publish(t, headFile, lie)
			for range 2 {
				asked, p := poll(t, second)
				if !asked {
					t.Error("a head URL that disagrees with git was trusted without asking git")
				}
				viaGit(t, p, "head URL disagrees with the branch")
			}
		}
		publish(t, headFile, "not a commit")
		_, p := poll(t, second)
		viaGit(t, p, "not a commit id")
		publish(t, headFile, second)
	})
	t.Run("a stale head URL is cross-checked within the bound", func(t *testing.T) {
		poll(t, second)
		r.BareGit("config", "--unset", "gitfleet.headFile") // the hook stops publishing
		third := r.Commit("third")
		clk.Add(maxStale - time.Second)
		if asked, _ := poll(t, second); asked {
			t.Error("git was asked within the bound although the head URL did not change")
		}
		clk.Add(time.Second)
		asked, p := poll(t, third)
		if !asked {
			t.Error("no git poll once the head went unconfirmed for the bound")
		}
		viaGit(t, p, "head URL disagrees with the branch")
		// From now on every poll asks git until the URL catches up.
		if asked, _ := poll(t, third); !asked {
			t.Error("a head URL behind the branch was trusted")
		}
	})
	t.Run("web server down: git poll, reported once it lasts", func(t *testing.T) {
		third := r.RemoteRef("refs/heads/main")
		gittest.Git(t, r.BareDir, "config", "gitfleet.headFile", headFile)
		publish(t, headFile, third)
		viaURL(t, func() *status.Poll { _, p := poll(t, third); return p }())
		web.Stop()
		// A server that is down or slow for a while is no news for the
		// status report (each such report a commit, from every node).
		asked, p := poll(t, third)
		if !asked {
			t.Error("no git poll with the web server down")
		}
		viaURL(t, p)
		clk.Add(maxStale - time.Second)
		if _, p := poll(t, third); p.Via != status.PollViaHeadURL {
			t.Errorf("status poll = %+v before the failures lasted maxStale", p)
		}
		clk.Add(time.Second)
		_, p = poll(t, third)
		viaGit(t, p, "head URL unavailable: unreachable")
	})
}

// With no head URL (neither configured nor in the applied revision), a
// HeadURL is the git poll.
func TestHeadURLNone(t *testing.T) {
	r, sha := fleetRepo(t)
	h, err := source.NewHeadURL(newGit(t, source.Config{Location: loc(t, gittest.FileURL(r.BareDir))}), source.HeadURLConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.UseHeadURL("", time.Minute)
	if got, err := h.Head(context.Background()); err != nil || got != sha {
		t.Fatalf("Head = %s, %v; want %s", got, err, sha)
	}
	if p := h.PollStatus(); p.Via != status.PollViaGit || p.Protocol != source.ProtocolV2 || p.Message != "" {
		t.Errorf("status poll = %+v", p)
	}
}

// The shipped hook publishes every push to the branch, and only those,
// with an mtime that moves forward even for pushes within one second: web
// servers derive their validators from mtime and size, and every id has
// the same size.
func TestPostReceiveHeadHook(t *testing.T) {
	headFile := filepath.Join(t.TempDir(), "heads", "main")
	r := publishingRepo(t, headFile)
	var last time.Time
	for i := range 4 {
		r.Write("fleet.yaml", fmt.Sprintf("kind: Fleet # %d\n", i))
		head := r.Commit(fmt.Sprintf("change %d", i))
		b, err := os.ReadFile(headFile)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != head {
			t.Fatalf("push %d: head file holds %q, want %s", i, got, head)
		}
		fi, err := os.Stat(headFile)
		if err != nil {
			t.Fatal(err)
		}
		if mt := fi.ModTime().Truncate(time.Second); !mt.After(last) {
			t.Errorf("push %d: head file's mtime %s is not after the previous one's %s", i, mt, last)
		} else {
			last = mt
		}
	}
	before, _ := os.ReadFile(headFile)
	gittest.Git(t, r.Dir, "push", "-q", "origin", "main:other")
	if after, _ := os.ReadFile(headFile); string(after) != string(before) {
		t.Errorf("a push to another branch changed the head file to %q", after)
	}
}
