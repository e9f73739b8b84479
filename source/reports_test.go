package source_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// pushRaw points refs/heads/status/<node> of r's bare repo at a commit
// whose tree holds status/<node>.yaml with content, made with git itself.
func pushRaw(t *testing.T, r *gittest.Repo, node, content string) {
	t.Helper()
	blobCmd := gittest.Command(r.BareDir, "hash-object", "-w", "--stdin")
	blobCmd.Stdin = strings.NewReader(content)
	blob, err := blobCmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	mktree := func(entry string) string {
		cmd := gittest.Command(r.BareDir, "mktree")
		cmd.Stdin = strings.NewReader(entry + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	dir := mktree("100644 blob " + strings.TrimSpace(string(blob)) + "\t" + node + ".yaml")
	root := mktree("040000 tree " + dir + "\tstatus")
	commit := strings.TrimSpace(r.BareGit("commit-tree", root, "-m", node+": by hand"))
	r.BareGit("update-ref", "refs/heads/status/"+node, commit)
}

// packs counts the pack files in a store directory: one per fetch.
func packs(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func TestReports(t *testing.T) {
	r, remotes := statusRemotes(t)
	for name, cfg := range remotes {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			a, b, bad, missing := "c1-"+name, "c2-"+name, "bad-"+name, "gone-"+name
			rev1 := strings.Repeat("1a", 20)
			rev2 := strings.Repeat("2b", 20)
			wa := newWriter(t, cfg, a, clk)
			wb := newWriter(t, cfg, b, clk)
			for n, w := range map[string]*source.StatusWriter{a: wa, b: wb} {
				if err := w.Report(ctx, report(n, rev1, status.StateRunning, clk.Now())); err != nil {
					t.Fatal(err)
				}
			}
			pushRaw(t, r, bad, "apiVersion: something/else\nkind: NodeStatus\n")
			if r.RemoteRef("refs/heads/status/"+bad) == "" {
				t.Fatal("no malformed report pushed")
			}
			// A report on one node's ref that names another is not that node's.
			impostor := "imp-" + name
			pushRaw(t, r, impostor, marshal(t, report(a, rev2, status.StateRunning, clk.Now())))

			rcfg := cfg
			rcfg.Node, rcfg.Dir, rcfg.Now = "reader-"+name, t.TempDir(), clk.Now
			var logs bytes.Buffer
			reader, err := source.NewStatusWriter(rcfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err != nil {
				t.Fatal(err)
			}
			read := func() map[string]*status.NodeStatus {
				t.Helper()
				got, err := reader.Reports(ctx, []string{a, b, bad, missing, impostor}, nil)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			check := func(got map[string]*status.NodeStatus, want map[string]string) {
				t.Helper()
				if len(got) != len(want) {
					t.Errorf("Reports = %d reports %v, want %d", len(got), got, len(want))
				}
				for n, rev := range want {
					if got[n] == nil || got[n].Metadata.Name != n || got[n].Status.AppliedRevision != rev {
						t.Errorf("report of %s = %+v, want applied %s", n, got[n], rev)
					}
				}
			}

			check(read(), map[string]string{a: rev1, b: rev1})
			if got := packs(t, rcfg.Dir); got != 1 {
				t.Errorf("after the first call: %d packs, want 1", got)
			}
			if !strings.Contains(logs.String(), "status report unreadable") || !strings.Contains(logs.String(), "status/"+bad) {
				t.Errorf("malformed report not logged:\n%s", &logs)
			}
			// Nothing changed: the advertisement alone, no fetch.
			check(read(), map[string]string{a: rev1, b: rev1})
			if got := packs(t, rcfg.Dir); got != 1 {
				t.Errorf("after an unchanged call: %d packs, want 1", got)
			}
			// A new report from a is seen by the next call.
			clk.Add(time.Minute)
			if err := wa.Report(ctx, report(a, rev2, status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			got := read()
			check(got, map[string]string{a: rev2, b: rev1})
			if !got[a].Status.LastSeen.Equal(clk.Now()) {
				t.Errorf("lastSeen of %s = %s, want %s", a, got[a].Status.LastSeen, clk.Now())
			}
			if got := packs(t, rcfg.Dir); got != 2 {
				t.Errorf("after a new report: %d packs, want 2", got)
			}
			// The reader's own first Report re-creates the shared store; the
			// next call fetches again.
			if err := reader.Report(ctx, report(rcfg.Node, rev2, status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			check(read(), map[string]string{a: rev2, b: rev1})
		})
	}
}

func TestReportsNone(t *testing.T) {
	r := gittest.NewRepo(t) // empty
	for _, url := range []string{gittest.FileURL(r.BareDir), gittest.ServeHTTP(t, r.BareParent, "", "") + "/" + r.Name} {
		clk := &clock{now: time.Now()}
		w := newWriter(t, source.StatusConfig{Location: loc(t, url)}, "reader", clk)
		for _, nodes := range [][]string{nil, {"c1", "c2"}, {"../main", "x.lock"}} {
			got, err := w.Reports(context.Background(), nodes, nil)
			if err != nil || got == nil || len(got) != 0 {
				t.Errorf("%s: Reports(%q) = %v, %v, want an empty map", url, nodes, got, err)
			}
		}
	}
}

func TestReportsWrongPassword(t *testing.T) {
	r, _ := fleetRepo(t)
	base := gittest.ServeHTTP(t, r.BareParent, "fleetd", "right-password")
	clk := &clock{now: time.Now()}
	w := newWriter(t, source.StatusConfig{Location: loc(t, base+"/"+r.Name, source.Auth{Username: "fleetd", Password: "wrong-password"})}, "reader", clk)
	_, err := w.Reports(context.Background(), []string{"c1"}, nil)
	var e *source.Error
	if !errors.As(err, &e) || !errors.Is(err, transport.ErrAuthenticationRequired) || fault.Is(err, fault.Transient) {
		t.Fatalf("Reports = %v, want a permanent *source.Error wrapping ErrAuthenticationRequired", err)
	}
	if msg := err.Error(); strings.Contains(msg, "wrong-password") || !strings.Contains(msg, "refs/heads/status/") {
		t.Errorf("error %q shows the password or does not name the refs", msg)
	}
}

func marshal(t *testing.T, st *status.NodeStatus) string {
	t.Helper()
	b, err := status.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadReports reads every status ref at once, as fleetctl status does,
// from each kind of location.
func TestReadReports(t *testing.T) {
	ctx := context.Background()
	r, _ := fleetRepo(t)
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	rev := strings.Repeat("1a", 20)
	for _, n := range []string{"press-01", "press-02"} {
		w := newWriter(t, source.StatusConfig{Location: loc(t, r.BareDir)}, n, clk)
		if err := w.Report(ctx, report(n, rev, status.StateRunning, clk.Now())); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute)
	}
	pushRaw(t, r, "bad", "status: [not, a, map\n")
	pushRaw(t, r, "impostor", marshal(t, report("press-01", rev, status.StateRunning, clk.Now())))

	sshURL, key, knownHosts := gittest.ServeSSH(t, r.BareParent)
	locs := map[string]source.Location{
		"path":   loc(t, r.BareDir),
		"file":   loc(t, gittest.FileURL(r.BareDir)),
		"daemon": loc(t, gittest.ServeDaemon(t, r.BareParent)+"/"+r.Name),
		"http":   loc(t, gittest.ServeHTTP(t, r.BareParent, "fleet", "s3cret-token")+"/"+r.Name, source.Auth{Username: "fleet", Password: "s3cret-token"}),
		"ssh":    loc(t, sshURL+"/"+r.Name, source.Auth{SSHKeyFile: key, KnownHostsFile: knownHosts}),
	}
	for name, l := range locs {
		t.Run(name, func(t *testing.T) {
			got, err := source.ReadReports(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 4 {
				t.Errorf("ReadReports = %d reports, want 4: %v", len(got), got)
			}
			for _, n := range []string{"press-01", "press-02"} {
				rep := got[n]
				ref := "refs/heads/status/" + n
				if rep.Err != nil || rep.Status == nil || rep.Status.Metadata.Name != n || rep.Status.Status.AppliedRevision != rev {
					t.Errorf("%s: %+v, want %s's report applying %s", n, rep, n, rev)
				}
				if want := r.RemoteRef(ref); rep.Commit != want {
					t.Errorf("%s: commit %s, want %s", n, rep.Commit, want)
				}
				when, err := time.Parse(time.RFC3339, strings.TrimSpace(r.BareGit("log", "-1", "--format=%cI", ref)))
				if err != nil {
					t.Fatal(err)
				}
				if !rep.Committed.Equal(when) {
					t.Errorf("%s: committed %s, want %s", n, rep.Committed, when)
				}
			}
			if rep := got["bad"]; rep.Err == nil || rep.Status != nil || !strings.Contains(rep.Err.Error(), "status/bad.yaml") {
				t.Errorf("bad: %+v, want an error naming status/bad.yaml", rep)
			}
			if rep := got["impostor"]; rep.Err != nil || rep.Status == nil || rep.Status.Metadata.Name != "press-01" {
				t.Errorf("impostor: %+v, want the report as written (naming press-01)", rep)
			}
		})
	}

	empty := gittest.NewRepo(t)
	for _, l := range []source.Location{loc(t, empty.BareDir), loc(t, r.Dir)} {
		if got, err := source.ReadReports(ctx, l); err != nil || got == nil || len(got) != 0 {
			t.Errorf("ReadReports(%s) = %v, %v; want none", l, got, err)
		}
	}
	_, err := source.ReadReports(ctx, loc(t, "http://127.0.0.1:"+itoa(porttest.Port(t))+"/fleet.git"))
	var e *source.Error
	if !errors.As(err, &e) || !fault.Is(err, fault.Transient) || !strings.Contains(err.Error(), "refs/heads/status/*") {
		t.Errorf("ReadReports of a server that is down = %v, want a transient *source.Error naming the refs", err)
	}
}
