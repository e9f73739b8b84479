package source_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
)

// A fetch of the node's ref on a full disk can leave the writer's store
// naming the commit while the pack's index was cut short, so that the
// commit cannot be read (found by chaos.TestStateDirFull: every report
// after failed with "object not found"). The next load must not fail on it
// for good: the writer starts its store afresh and fetches again.
func TestStatusWriterRecoversAStoreWithACutIndex(t *testing.T) {
	_, remotes := statusRemotes(t)
	ctx := context.Background()
	node := "press-full"
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	cfg := remotes["http"]
	cfg.Node, cfg.Dir, cfg.Now = node, t.TempDir(), clk.Now
	writer := func() *source.StatusWriter {
		t.Helper()
		// Without its memory of the last report: it reads the remote.
		if err := os.Remove(filepath.Join(cfg.Dir, "last-report.json")); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		w, err := source.NewStatusWriter(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	rev1, rev2 := "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678", "2b3c4d5e6f708192a3b4c5d6e7f8091234567890"
	if err := writer().Report(ctx, report(node, rev1, status.StateRunning, clk.Now())); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	// This one fetches the ref into its store (and commits nothing: the
	// report did not change).
	if err := writer().Report(ctx, report(node, rev1, status.StateRunning, clk.Now())); err != nil {
		t.Fatal(err)
	}
	// The pack's index cut short by the full disk.
	idx, err := filepath.Glob(filepath.Join(cfg.Dir, "objects", "pack", "*.idx"))
	if err != nil || len(idx) == 0 {
		t.Fatalf("no pack index in the writer's store: %v", err)
	}
	for _, f := range idx {
		if err := os.Truncate(f, 0); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Minute)
	if err := writer().Report(ctx, report(node, rev2, status.StateRunning, clk.Now())); err != nil {
		t.Fatalf("report after the store's pack index was cut short: %v", err)
	}
}
