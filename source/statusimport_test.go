package source_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

func TestCarryStatusNeverReplacesANewerReport(t *testing.T) {
	r, rev := fleetRepo(t)
	central := loc(t, gittest.FileURL(r.BareDir))
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	write := func(l source.Location, node, state string, at time.Time) {
		t.Helper()
		clk := &clock{now: at}
		w := newWriter(t, source.StatusConfig{Location: l}, node, clk)
		if err := w.Report(t.Context(), report(node, rev, state, at)); err != nil {
			t.Fatal(err)
		}
	}
	git := func(dir string, args ...string) string {
		return strings.TrimSpace(gittest.Git(t, dir, append([]string{"-c", "safe.directory=*"}, args...)...))
	}
	// Before the export: a and b reported over the network.
	write(central, "a", "running", t0)
	write(central, "b", "running", t0)
	dir := filepath.Join(t.TempDir(), "fleet.git")
	if _, err := source.Mirror(t.Context(), central, dir, source.MirrorOptions{Nodes: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	stick, err := source.LocalRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	// On site: a, b, c and d report onto the stick.
	write(stick, "a", "stopped", t0.Add(1*time.Hour))
	write(stick, "b", "stopped", t0.Add(1*time.Hour))
	write(stick, "c", "stopped", t0.Add(1*time.Hour))
	write(stick, "d", "stopped", t0.Add(3*time.Hour))
	// Meanwhile over the network: b reports again, later than on the
	// stick; c and d report on histories the stick never saw, c later
	// than on the stick, d earlier.
	write(central, "b", "failed", t0.Add(2*time.Hour))
	write(central, "c", "failed", t0.Add(2*time.Hour))
	write(central, "d", "failed", t0.Add(2*time.Hour))
	stickA := git(dir, "rev-parse", "refs/heads/status/a")
	centralB := git(r.BareDir, "rev-parse", "refs/heads/status/b")
	centralC := git(r.BareDir, "rev-parse", "refs/heads/status/c")
	stickD := git(dir, "rev-parse", "refs/heads/status/d")
	centralD := git(r.BareDir, "rev-parse", "refs/heads/status/d")

	got, err := source.CarryStatus(t.Context(), stick, central)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, c := range got {
		actions[c.Node] = c.Action
	}
	want := map[string]string{"a": source.CarryForward, "b": source.CarryKept, "c": source.CarryKept, "d": source.CarryMerged}
	for n, w := range want {
		if actions[n] != w {
			t.Errorf("%s: %s, want %s", n, actions[n], w)
		}
	}
	if got := git(r.BareDir, "rev-parse", "refs/heads/status/a"); got != stickA {
		t.Errorf("a: repository at %s, want the stick's %s", got, stickA)
	}
	if got := git(r.BareDir, "rev-parse", "refs/heads/status/c"); got != centralC {
		t.Errorf("c: repository moved to %s, its newer report %s replaced", got, centralC)
	}
	parents := strings.Fields(git(r.BareDir, "log", "-1", "--format=%P", "refs/heads/status/d"))
	if len(parents) != 2 || parents[0] != centralD || parents[1] != stickD {
		t.Errorf("d: merge parents %v, want [%s %s]", parents, centralD, stickD)
	}
	if state := git(r.BareDir, "show", "refs/heads/status/d:status/d.yaml"); !strings.Contains(state, "stopped") {
		t.Errorf("d: merged report is not the stick's:\n%s", state)
	}
	if got := git(r.BareDir, "rev-parse", "refs/heads/status/b"); got != centralB {
		t.Errorf("b: repository moved to %s, its newer report %s replaced", got, centralB)
	}
	again, err := source.CarryStatus(t.Context(), stick, central)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range again {
		if c.Action != source.CarryUpToDate && c.Action != source.CarryKept {
			t.Errorf("second import: %s %s, want nothing pushed", c.Node, c.Action)
		}
	}
}
