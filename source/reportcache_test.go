package source_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/trust"
)

// TestReportsKeptByCommitAndKey: a rollout gate asking again for reports
// whose refs have not moved gets the same answer without a decode or a
// signature check; a ref that moved is read again, and a changed enrolled
// key checks the signature again. Every answer equals a fresh reader's.
func TestReportsKeptByCommitAndKey(t *testing.T) {
	r, remotes := statusRemotes(t)
	for name, cfg := range remotes {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			a, b, raw, bad, none := "ka-"+name, "kb-"+name, "kraw-"+name, "kbad-"+name, "knone-"+name
			keyA, keyB := statusKey(t, a), statusKey(t, b)
			writer := func(node string, k *trust.StatusKey) *source.StatusWriter {
				cfg := cfg
				cfg.Signer = k
				return newWriter(t, cfg, node, clk)
			}
			wa, wb := writer(a, keyA), writer(b, keyB)
			rev1, rev2 := strings.Repeat("1a", 20), strings.Repeat("2b", 20)
			for n, w := range map[string]*source.StatusWriter{a: wa, b: wb} {
				if err := w.Report(ctx, report(n, rev1, status.StateRunning, clk.Now())); err != nil {
					t.Fatal(err)
				}
			}
			pushRaw(t, r, raw, marshal(t, report(raw, rev1, status.StateRunning, clk.Now())))
			pushRaw(t, r, bad, "apiVersion: something/else\nkind: NodeStatus\n")

			checks := 0
			newReader := func() *source.StatusWriter {
				rcfg := cfg
				rcfg.Node, rcfg.Dir, rcfg.Now = "kreader-"+name, t.TempDir(), clk.Now
				rcfg.CheckReport = func(key string, rep source.Report) status.Trust {
					checks++
					return checkReport(key, rep)
				}
				reader, err := source.NewStatusWriter(rcfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				return reader
			}
			reader := newReader()
			nodes := []string{a, b, raw, bad, none}
			keys := map[string]string{a: keyA.AuthorizedKey(""), b: keyB.AuthorizedKey(""), raw: keyA.AuthorizedKey("")}
			// read asks reader, and a fresh reader for comparison, and
			// returns the answer with the decodes and checks it cost.
			read := func(what string) (map[string]*status.NodeStatus, int, int) {
				t.Helper()
				d0, c0 := source.ReportsDecoded(reader), checks
				got, err := reader.Reports(ctx, nodes, keys)
				if err != nil {
					t.Fatal(err)
				}
				d, c := source.ReportsDecoded(reader)-d0, checks-c0
				want, err := newReader().Reports(ctx, nodes, keys)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: answer %v differs from a fresh reader's %v", what, got, want)
				}
				return got, d, c
			}
			first, decoded, checked := read("first call")
			if decoded != 4 || checked != 3 || len(first) != 3 || !first[a].Trust.Trusted || !first[b].Trust.Trusted || first[raw].Trust.Trusted {
				t.Fatalf("first call: %d decoded, %d checked, answer %v; want 4, 3 and a, b trusted, raw not", decoded, checked, first)
			}
			again, decoded, checked := read("unchanged refs")
			if decoded != 0 || checked != 0 {
				t.Errorf("unchanged refs: %d decoded, %d checked; want none", decoded, checked)
			}
			if !reflect.DeepEqual(again, first) {
				t.Errorf("unchanged refs: answer %v, want the first %v", again, first)
			}

			clk.Add(time.Minute)
			if err := wa.Report(ctx, report(a, rev2, status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			// Without a fetch: what is held for unmoved refs, and who moved.
			known, moved, err := reader.KnownReports(ctx, nodes, keys)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(moved, []string{a}) || len(known) != 2 || !reflect.DeepEqual(known[b], first[b]) || !reflect.DeepEqual(known[raw], first[raw]) {
				t.Errorf("a's ref moved, not fetched: known %v, moved %v; want b and raw as before and a moved", known, moved)
			}
			got, decoded, checked := read("a's ref moved")
			if decoded != 1 || checked != 1 || got[a].Status.AppliedRevision != rev2 || !got[a].Trust.Trusted {
				t.Errorf("a's ref moved: %d decoded, %d checked, a %+v; want 1, 1 and a trusted at %s", decoded, checked, got[a], rev2)
			}
			if known, moved, err := reader.KnownReports(ctx, nodes, keys); err != nil || len(moved) != 0 || !reflect.DeepEqual(known, got) {
				t.Errorf("after the fetch: known %v, moved %v (%v); want the answer %v and none moved", known, moved, err, got)
			}

			keys[b] = keyA.AuthorizedKey("") // b enrolled with another key
			got, decoded, checked = read("b's key changed")
			if decoded != 0 || checked != 1 || got[b] == nil || got[b].Trust.Trusted {
				t.Errorf("b's key changed: %d decoded, %d checked, b %+v; want 0, 1 and b untrusted", decoded, checked, got[b])
			}
		})
	}
}

// A reader that has read many reports sends no more to fetch a moved one
// than a fresh reader does: the reports' commits it holds (its shallow
// boundary) are not listed in the request, which names no haves and so
// gives them no use, and which the server would parse one by one.
func TestReportFetchDoesNotListHeldReports(t *testing.T) {
	_, remotes := statusRemotes(t)
	for name, cfg := range remotes {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			var nodes []string
			writers := map[string]*source.StatusWriter{}
			keys := map[string]string{}
			for i := range 30 {
				n := fmt.Sprintf("s%02d-%s", i, name)
				k := statusKey(t, n)
				wcfg := cfg
				wcfg.Signer = k
				writers[n] = newWriter(t, wcfg, n, clk)
				keys[n] = k.AuthorizedKey("")
				if err := writers[n].Report(ctx, report(n, strings.Repeat("1a", 20), status.StateRunning, clk.Now())); err != nil {
					t.Fatal(err)
				}
				nodes = append(nodes, n)
			}
			// newReader counts what the reader sends for other nodes' reports.
			newReader := func(sent *int64) *source.StatusWriter {
				rcfg := cfg
				rcfg.Node, rcfg.Dir, rcfg.Now = "sreader-"+name, t.TempDir(), clk.Now
				rcfg.CheckReport = checkReport
				rcfg.Traffic = func(op source.Op, s, _ int64) {
					if op == source.OpReports {
						*sent += s
					}
				}
				r, err := source.NewStatusWriter(rcfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			var oldSent, freshSent int64
			old := newReader(&oldSent)
			if _, err := old.Reports(ctx, nodes, keys); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
			moved := nodes[0]
			if err := writers[moved].Report(ctx, report(moved, strings.Repeat("2b", 20), status.StateRunning, clk.Now())); err != nil {
				t.Fatal(err)
			}
			oldSent = 0
			got, err := old.Reports(ctx, nodes, keys)
			if err != nil {
				t.Fatal(err)
			}
			if got[moved] == nil || got[moved].Status.AppliedRevision != strings.Repeat("2b", 20) {
				t.Fatalf("the moved report reads %+v", got[moved])
			}
			// A fresh reader asks for the same: every report, all moved for it.
			fresh := newReader(&freshSent)
			if _, err := fresh.Reports(ctx, nodes, keys); err != nil {
				t.Fatal(err)
			}
			// The old reader wants 1 commit, the fresh one 30: at 50 bytes a
			// want, the old reader's request is the smaller unless it lists
			// the 30 reports it holds (about 55 bytes each).
			if oldSent >= freshSent {
				t.Errorf("reading 1 moved report sent %d B; a fresh reader's 30 sent %d B", oldSent, freshSent)
			}
		})
	}
}
