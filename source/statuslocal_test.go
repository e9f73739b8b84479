package source_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// A writer restarted on its own state dir remembers its last report: an
// unchanged report sends nothing, not even to a server that is gone; and
// if someone else moved the node's ref meanwhile, its next commit still
// lands on top of theirs.
func TestStatusWriterRemembersItsLastReport(t *testing.T) {
	r, _ := fleetRepo(t)
	for name, mk := range map[string]func() (string, *gittest.Proxy){
		"file": func() (string, *gittest.Proxy) { return gittest.FileURL(r.BareDir), nil },
		"http": func() (string, *gittest.Proxy) {
			url, p := gittest.ProxyURL(t, gittest.ServeHTTP(t, r.BareParent, "", ""))
			return url + "/" + r.Name, p
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			url, proxy := mk()
			node := "press-" + name
			ref := "refs/heads/status/" + node
			clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			dir := t.TempDir()
			open := func(url string) *source.StatusWriter {
				w, err := source.NewStatusWriter(source.StatusConfig{Location: loc(t, url), Node: node, Dir: dir, Now: clk.Now}, nil)
				if err != nil {
					t.Fatal(err)
				}
				return w
			}
			rev := strings.Repeat("1", 40)
			if err := open(url).Report(ctx, report(node, rev, status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			first := r.RemoteRef(ref)

			// Restarted, same report: nothing sent. The URL points at a
			// port where nothing listens, so any exchange would fail.
			clk.Add(time.Minute)
			if proxy != nil {
				proxy.Take()
			}
			down := "http://127.0.0.1:" + strconv.Itoa(porttest.Port(t)) + "/" + r.Name
			if name == "file" {
				down = gittest.FileURL(t.TempDir() + "/gone.git")
			}
			w := open(down)
			if err := w.Report(ctx, report(node, rev, status.StateRunning, clk.Now())); err != nil {
				t.Fatalf("unchanged report after a restart: %v", err)
			}
			own, err := w.Reports(ctx, []string{node}, nil)
			if err != nil || own[node] == nil || own[node].Status.AppliedRevision != rev {
				t.Fatalf("own report after a restart = %v, %v", own, err)
			}
			if proxy != nil {
				if n, conns := proxy.Take(); n != 0 || conns != 0 {
					t.Errorf("restart with an unchanged report sent %d B", n)
				}
			}

			// Someone else commits to the node's ref.
			other, err := source.NewStatusWriter(source.StatusConfig{Location: loc(t, url), Node: node, Dir: t.TempDir(), Now: clk.Now}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Report(ctx, report(node, rev, status.StateFailed, clk.Now())); err != nil {
				t.Fatal(err)
			}
			theirs := r.RemoteRef(ref)
			if theirs == first {
				t.Fatal("the other writer did not commit")
			}

			// The restarted writer's next change lands on top of theirs.
			clk.Add(time.Minute)
			if err := open(url).Report(ctx, report(node, strings.Repeat("2", 40), status.StateRunning, clk.Now())); err != nil {
				t.Fatalf("report after another writer moved the ref: %v", err)
			}
			if parent := strings.TrimSpace(r.BareGit("rev-parse", ref+"^")); parent != theirs {
				t.Errorf("new report's parent = %s, want the other writer's %s", parent, theirs)
			}
			if got := strings.TrimSpace(r.BareGit("rev-list", "--count", ref)); got != "3" {
				t.Errorf("%s has %s commits, want 3", ref, got)
			}
		})
	}
}
