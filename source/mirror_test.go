package source_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

func TestMirrorCopiesHistoryAndStatusRefs(t *testing.T) {
	r, first := fleetRepo(t)
	var revs = []string{first}
	for i := range 4 {
		r.Write("nodes/n.yaml", strings.Repeat("x", i+1))
		revs = append(revs, r.Commit("change"))
	}
	central := loc(t, gittest.FileURL(r.BareDir))
	clk := &clock{now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	w := newWriter(t, source.StatusConfig{Location: central}, "press-01", clk)
	if err := w.Report(t.Context(), report("press-01", revs[2], "running", clk.Now())); err != nil {
		t.Fatal(err)
	}
	git := func(dir string, args ...string) string {
		return strings.TrimSpace(gittest.Git(t, dir, append([]string{"-c", "safe.directory=*"}, args...)...))
	}

	full := filepath.Join(t.TempDir(), "fleet.git")
	head, err := source.Mirror(t.Context(), central, full, source.MirrorOptions{Nodes: []string{"press-01", "press-02"}})
	if err != nil || head != revs[4] {
		t.Fatalf("Mirror = %s, %v; want %s", head, err, revs[4])
	}
	if n := len(strings.Fields(git(full, "rev-list", "main"))); n != 5 {
		t.Errorf("full mirror holds %d commits, want 5", n)
	}
	git(full, "fsck", "--strict")
	if got := git(full, "rev-parse", "refs/heads/status/press-01"); got != gittest.Git(t, r.BareDir, "rev-parse", "refs/heads/status/press-01")[:40] {
		t.Errorf("status ref %s not copied", got)
	}

	// Nodes that applied revs[2]: the history stops there, revs[2] kept.
	delta := filepath.Join(t.TempDir(), "fleet.git")
	if _, err := source.Mirror(t.Context(), central, delta, source.MirrorOptions{Have: []string{revs[2]}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(git(delta, "rev-list", "main")); len(got) != 3 || got[2] != revs[2] {
		t.Errorf("delta mirror holds %v, want %v", got, []string{revs[4], revs[3], revs[2]})
	}
	git(delta, "fsck", "--strict")

	// A report the node wrote on the mirror is not replaced by a refresh.
	stick, err := source.LocalRepository(full)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	ws := newWriter(t, source.StatusConfig{Location: stick}, "press-01", clk)
	if err := ws.Report(t.Context(), report("press-01", revs[4], "running", clk.Now())); err != nil {
		t.Fatal(err)
	}
	own := git(full, "rev-parse", "refs/heads/status/press-01")
	r.Write("nodes/n.yaml", "newer")
	newest := r.Commit("newer")
	if head, err := source.Mirror(t.Context(), central, full, source.MirrorOptions{Nodes: []string{"press-01"}}); err != nil || head != newest {
		t.Fatalf("refresh = %s, %v; want %s", head, err, newest)
	}
	if got := git(full, "rev-parse", "refs/heads/status/press-01"); got != own {
		t.Errorf("refresh replaced the node's report %s with %s", own, got)
	}
}
