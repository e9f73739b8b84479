package source_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func report(node, applied string, state string, now time.Time) *status.NodeStatus {
	return &status.NodeStatus{
		APIVersion: status.APIVersion, Kind: status.Kind,
		Metadata: status.Meta{Name: node},
		Status: status.Status{
			ObservedRevision: applied, AppliedRevision: applied, LastSeen: now,
			Conditions: []status.Condition{{Type: "Ready", Status: "True", Reason: "Applied"}},
			Workloads:  []status.Workload{{Name: "defect-classifier", Image: "r.example/m@sha256:" + strings.Repeat("ab", 32), State: state}},
		},
	}
}

// statusRemotes returns the same bare repo over file:// and HTTP.
func statusRemotes(t *testing.T) (*gittest.Repo, map[string]source.StatusConfig) {
	r, _ := fleetRepo(t)
	return r, map[string]source.StatusConfig{
		"file": {Location: loc(t, gittest.FileURL(r.BareDir))},
		"http": {Location: loc(t, gittest.ServeHTTP(t, r.BareParent, "fleetd", "s3cret-token")+"/"+r.Name, source.Auth{Username: "fleetd", Password: "s3cret-token"})},
	}
}

func newWriter(t *testing.T, cfg source.StatusConfig, node string, clk *clock) *source.StatusWriter {
	t.Helper()
	cfg.Node = node
	cfg.Dir = t.TempDir()
	cfg.Now = clk.Now
	w, err := source.NewStatusWriter(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestStatusWriter(t *testing.T) {
	r, remotes := statusRemotes(t)
	for name, cfg := range remotes {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			node := "press-" + name
			ref := "refs/heads/status/" + node
			clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			w := newWriter(t, cfg, node, clk)
			rev1 := "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"
			subject := func() string { return strings.TrimSpace(r.BareGit("log", "-1", "--format=%s", ref)) }
			count := func() string { return strings.TrimSpace(r.BareGit("rev-list", "--count", ref)) }

			// First report creates the ref.
			if err := w.Report(ctx, report(node, rev1, status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			if got, want := subject(), node+": applied 1a2b3c4; defect-classifier running; Ready True (Applied)"; got != want {
				t.Errorf("subject = %q, want %q", got, want)
			}
			content := r.BareGit("show", ref+":status/"+node+".yaml")
			want, _ := status.Marshal(report(node, rev1, status.StateRunning, clk.Now()))
			if content != string(want) {
				t.Errorf("status file =\n%s\nwant\n%s", content, want)
			}
			if got := r.BareGit("log", "-1", "--format=%an <%ae>", ref); strings.TrimSpace(got) != "fleetd "+node+" <"+node+"@gitfleet.invalid>" {
				t.Errorf("author = %q", got)
			}

			// Unchanged (only lastSeen moved): no commit.
			clk.Add(10 * time.Minute)
			if err := w.Report(ctx, report(node, rev1, status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			if got := count(); got != "1" {
				t.Errorf("commits after an unchanged report = %s, want 1", got)
			}

			// Heartbeat once the interval has passed.
			clk.Add(51 * time.Minute)
			if err := w.Report(ctx, report(node, rev1, status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			if got := count(); got != "2" {
				t.Errorf("commits after the heartbeat = %s, want 2", got)
			}
			if got := subject(); got != node+": heartbeat" {
				t.Errorf("subject = %q, want heartbeat", got)
			}

			// A change commits at once, saying what changed.
			clk.Add(time.Minute)
			if err := w.Report(ctx, report(node, rev1, status.StateFailed, clk.Now())); err != nil {
				t.Fatal(err)
			}
			if got, want := subject(), node+": defect-classifier failed"; got != want {
				t.Errorf("subject = %q, want %q", got, want)
			}

			// A restarted writer compares against what the remote holds.
			w2 := newWriter(t, cfg, node, clk)
			clk.Add(time.Minute)
			if err := w2.Report(ctx, report(node, rev1, status.StateFailed, clk.Now())); err != nil {
				t.Fatal(err)
			}
			if got := count(); got != "3" {
				t.Errorf("commits after a restart with the same report = %s, want 3", got)
			}
			rev2 := "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
			refused := report(node, rev1, status.StateFailed, clk.Now())
			refused.Status.ObservedRevision = rev2
			refused.Status.Errors = []status.Error{{File: "workloads/x.yaml", Line: 7, Field: "spec.image", Reason: "must be pinned by digest"}}
			if err := w2.Report(ctx, refused); err != nil {
				t.Fatal(err)
			}
			if got, want := subject(), node+": refused 9f8e7d6: workloads/x.yaml:7: spec.image: must be pinned by digest"; got != want {
				t.Errorf("subject = %q, want %q", got, want)
			}

			// The first writer's view is stale now: it reads the ref again and
			// retries instead of failing.
			clk.Add(time.Minute)
			if err := w.Report(ctx, report(node, rev2, status.StateRunning, clk.Now())); err != nil {
				t.Fatalf("report after another writer moved the ref: %v", err)
			}
			if got := count(); got != "5" {
				t.Errorf("commits = %s, want 5", got)
			}
			log := r.BareGit("log", "--format=%B", ref)
			if strings.Contains(log, "s3cret-token") {
				t.Errorf("commit messages show the password:\n%s", log)
			}
			r.BareGit("fsck", "--strict")
		})
	}
}

func TestStatusWriterNeverCommitsCredentials(t *testing.T) {
	r, remotes := statusRemotes(t)
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	w := newWriter(t, remotes["http"], "press-01", clk)
	st := report("press-01", strings.Repeat("1", 40), status.StateFailed, clk.Now())
	st.Status.Workloads[0].Message = "pull https://fleetd:s3cret-token@registry/x failed"
	if err := w.Report(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	all := r.BareGit("log", "-p", "--format=%B", "refs/heads/status/press-01")
	if strings.Contains(all, "s3cret-token") {
		t.Errorf("commit shows the token:\n%s", all)
	}
}

func TestStatusWritersConcurrent(t *testing.T) {
	r, remotes := statusRemotes(t)
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		w := newWriter(t, remotes["http"], fmt.Sprintf("node-%02d", i), clk)
		wg.Go(func() {
			for j := range 3 {
				st := report(fmt.Sprintf("node-%02d", i), fmt.Sprintf("%040d", j), status.StateRunning, clk.Now())
				if err := w.Report(context.Background(), st); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node-%02d: %v", i, err)
		}
	}
	refs := strings.Fields(r.BareGit("for-each-ref", "--format=%(refname)", "refs/heads/status/"))
	if len(refs) != n {
		t.Fatalf("status refs = %d, want %d", len(refs), n)
	}
	for _, ref := range refs {
		if got := strings.TrimSpace(r.BareGit("rev-list", "--count", ref)); got != "3" {
			t.Errorf("%s has %s commits, want 3", ref, got)
		}
	}
}

func TestStatusWriterEmptyRepo(t *testing.T) {
	r := gittest.NewRepo(t) // nothing pushed yet: a separate, empty status repo
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	for _, url := range []string{gittest.FileURL(r.BareDir), gittest.ServeHTTP(t, r.BareParent, "", "") + "/" + r.Name} {
		node := fmt.Sprintf("n%d", len(url))
		w := newWriter(t, source.StatusConfig{Location: loc(t, url)}, node, clk)
		if err := w.Report(context.Background(), report(node, strings.Repeat("a", 40), status.StateRunning, clk.Now())); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if r.RemoteRef("refs/heads/status/"+node) == "" {
			t.Errorf("%s: no status ref", url)
		}
	}
}
