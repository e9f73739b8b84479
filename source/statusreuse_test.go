package source_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/proxytest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// TestStatusPushOnClosedKeepAlive: a status push sent on a kept-alive
// connection that the server closes as the request comes is sent again on
// a new connection, and the report lands once: whether or not the first
// request reached git, the ref holds one commit per report, the writer
// sees no conflict, and its next report follows on.
func TestStatusPushOnClosedKeepAlive(t *testing.T) {
	for name, forward := range map[string]bool{"not-forwarded": false, "landed": true} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r, _ := fleetRepo(t)
			srv := gittest.ServeHTTP(t, r.BareParent, "", "")
			p := proxytest.Start(t, strings.TrimPrefix(srv, "http://"))
			clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			node := "keep-" + name
			ref := "refs/heads/status/" + node
			var logs bytes.Buffer
			cfg := source.StatusConfig{Location: loc(t, "http://"+p.Addr()+"/"+r.Name), Node: node, Dir: t.TempDir(), Now: clk.Now}
			w, err := source.NewStatusWriter(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			revs := []string{strings.Repeat("1a", 20), strings.Repeat("2b", 20), strings.Repeat("3c", 20)}
			for i, rev := range revs {
				if i == 1 {
					p.CloseReused("/git-receive-pack", forward)
				}
				clk.Add(time.Minute)
				if err := w.Report(ctx, report(node, rev, status.StateRunning, clk.Now())); err != nil {
					t.Fatalf("report %d: %v", i+1, err)
				}
				if got := strings.TrimSpace(r.BareGit("rev-list", "--count", ref)); got != string(rune('1'+i)) {
					t.Errorf("after report %d the ref holds %s commits, want %d", i+1, got, i+1)
				}
				if got := r.BareGit("show", ref+":status/"+node+".yaml"); !strings.Contains(got, "appliedRevision: "+rev) {
					t.Errorf("after report %d the ref's report is\n%s\nwant applied %s", i+1, got, rev)
				}
			}
			if !strings.Contains(logs.String(), source.MsgPushResent) {
				t.Errorf("no push was sent again; the proxy did not close a kept-alive connection:\n%s", &logs)
			}
			if strings.Contains(logs.String(), "moved") {
				t.Errorf("the push sent again was taken for a conflict:\n%s", &logs)
			}
		})
	}
}

// TestStatusPushWithoutAnswerLanded: a push whose answer never came (the
// connection closed, sent again, closed again) fails the report, though
// git applied it; the next report reads the ref first and follows on from
// that commit, with no conflict and no second copy of the report.
func TestStatusPushWithoutAnswerLanded(t *testing.T) {
	ctx := context.Background()
	r, _ := fleetRepo(t)
	srv := gittest.ServeHTTP(t, r.BareParent, "", "")
	p := proxytest.Start(t, strings.TrimPrefix(srv, "http://"))
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	node := "unanswered"
	ref := "refs/heads/status/" + node
	var logs bytes.Buffer
	cfg := source.StatusConfig{Location: loc(t, "http://"+p.Addr()+"/"+r.Name), Node: node, Dir: t.TempDir(), Now: clk.Now}
	w, err := source.NewStatusWriter(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rev1, rev2, rev3 := strings.Repeat("1a", 20), strings.Repeat("2b", 20), strings.Repeat("3c", 20)
	if err := w.Report(ctx, report(node, rev1, status.StateRunning, clk.Now())); err != nil {
		t.Fatal(err)
	}
	p.CloseNext("/git-receive-pack", 2, true)
	clk.Add(time.Minute)
	if err := w.Report(ctx, report(node, rev2, status.StateRunning, clk.Now())); err == nil {
		t.Fatal("a report whose pushes got no answer succeeded")
	}
	if got := r.BareGit("show", ref+":status/"+node+".yaml"); !strings.Contains(got, "appliedRevision: "+rev2) {
		t.Fatalf("the unanswered push did not land; the ref's report is\n%s", got)
	}
	clk.Add(time.Minute)
	if err := w.Report(ctx, report(node, rev3, status.StateRunning, clk.Now())); err != nil {
		t.Fatalf("the report after: %v", err)
	}
	if got := strings.TrimSpace(r.BareGit("rev-list", "--count", ref)); got != "3" {
		t.Errorf("the ref holds %s commits, want 3 (one per report)", got)
	}
	if got := r.BareGit("show", ref+":status/"+node+".yaml"); !strings.Contains(got, "appliedRevision: "+rev3) {
		t.Errorf("the ref's report is\n%s\nwant applied %s", got, rev3)
	}
	if strings.Contains(logs.String(), "moved") {
		t.Errorf("the report after an unanswered push conflicted with it:\n%s", &logs)
	}
}

// TestPollAndFetchOnClosedKeepAlive: a poll and a fetch sent on a
// kept-alive connection that the server closes as the request comes are
// sent again on a new connection, and succeed: they only read.
func TestPollAndFetchOnClosedKeepAlive(t *testing.T) {
	ctx := context.Background()
	r, first := fleetRepo(t)
	srv := gittest.ServeHTTP(t, r.BareParent, "", "")
	p := proxytest.Start(t, strings.TrimPrefix(srv, "http://"))
	g := newGit(t, source.Config{Location: loc(t, "http://"+p.Addr()+"/"+r.Name)})
	if _, err := g.Head(ctx); err != nil {
		t.Fatal(err)
	}
	for i, forward := range []bool{false, true} {
		line := fmt.Sprintf("line: l%d", i)
		r.Write("nodes/press-01.yaml", "kind: Node\nmetadata: {name: press-01, labels: {"+line+"}}\n")
		next := r.Commit(line)
		p.CloseReused("/git-upload-pack", forward)
		head, err := g.Head(ctx)
		if err != nil {
			t.Fatalf("poll %d on a closed kept-alive connection: %v", i+1, err)
		}
		if head != next {
			t.Fatalf("Head = %s, want %s (the first commit was %s)", head, next, first)
		}
		if got := p.Closed(); got != 2*i+1 {
			t.Fatalf("the proxy closed %d connections, want %d: the poll did not come on a kept-alive one", got, 2*i+1)
		}
		p.CloseReused("/git-upload-pack", forward)
		fsys, err := g.Tree(ctx, head)
		if err != nil {
			t.Fatalf("fetch %d on a closed kept-alive connection: %v", i+1, err)
		}
		if got := p.Closed(); got != 2*i+2 {
			t.Fatalf("the proxy closed %d connections, want %d: the fetch did not come on a kept-alive one", got, 2*i+2)
		}
		if got := readFile(t, fsys, "nodes/press-01.yaml"); !strings.Contains(got, line) {
			t.Errorf("nodes/press-01.yaml = %q", got)
		}
	}
}
