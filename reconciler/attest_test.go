package reconciler

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/status"
)

// attestHarness is a node, press-01, in the rest wave of group all: 40
// nodes (press-01 … press-40) awaiting a canary wave of 24, every
// canary's report healthy on the revision and moved.
type attestHarness struct {
	*harness
	reports  *peekingReports
	canaries []string
	rest     []string
	now      time.Time
}

func newAttestHarness(t *testing.T, cfg Config) *attestHarness {
	h := &attestHarness{harness: newHarness(t, cfg), now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	h.reports = &peekingReports{fakeReports: &fakeReports{reports: map[string]*status.NodeStatus{}}, moved: map[string]bool{}}
	h.r.deps.Reports = h.reports
	h.r.deps.Now = func() time.Time { return h.now }
	h.rest = []string{"press-01"}
	for i := 2; i <= 40; i++ {
		h.rest = append(h.rest, fmt.Sprintf("press-%02d", i))
	}
	for i := 1; i <= 3*readSample; i++ {
		h.canaries = append(h.canaries, fmt.Sprintf("canary-%02d", i))
	}
	return h
}

// commitHealthy makes rev the head, with every canary healthy on it.
func (h *attestHarness) commitHealthy(rev string) {
	fsys := wavedTree("info")
	for _, n := range h.canaries {
		fsys["nodes/"+n+".yaml"] = enrolledNode(n, `canary: "true"`)
		h.reports.reports[n], h.reports.moved[n] = healthyReport(n, rev, h.now.Add(-time.Hour), h.now), true
	}
	for _, n := range h.rest[1:] {
		fsys["nodes/"+n+".yaml"] = enrolledNode(n, `line: "a"`)
	}
	h.src.trees[rev], h.src.head = fsys, rev
}

// attest gives node a report that attests the canary wave opened rev.
func (h *attestHarness) attest(node, rev string) {
	r := healthyReport(node, "rev0", h.now, h.now)
	r.Status.Gates = []status.GateOpened{{Group: "all", Wave: "canary", Revision: rev, Healthy: len(h.canaries), Of: len(h.canaries), At: h.now}}
	h.reports.reports[node] = r
}

// reads returns the sizes of the calls of Reports for other nodes since
// it was last called.
func (h *attestHarness) reads() []int {
	var sizes []int
	for _, a := range h.reports.asked {
		if len(a) != 1 || a[0] != "press-01" {
			sizes = append(sizes, len(a))
		}
	}
	h.reports.asked = nil
	return sizes
}

// revision returns a revision name for which press-01 is (attester true)
// or is not one of the rest wave's attesters.
func (h *attestHarness) revision(t *testing.T, attester bool) string {
	for i := range 100 {
		rev := fmt.Sprintf("rev%d", i)
		if slices.Contains(rollout.AttestersOf(rev, h.rest), "press-01") == attester {
			return rev
		}
	}
	t.Fatal("no revision name found")
	return ""
}

// A node of a large wave that is not an attester does not read the whole
// awaited wave when it turns healthy: it waits for its wave's attesters,
// and opens on two trusted attestations, reading their reports alone.
func TestWaveGateOpensOnAttestations(t *testing.T) {
	h := newAttestHarness(t, insecure())
	rev := h.revision(t, false)
	att := rollout.AttestersOf(rev, h.rest)
	h.commitHealthy(rev)

	err := h.pass(t)
	if fault.ClassOf(err) != fault.Held || !strings.Contains(err.Error(), "waiting for 2 of its attesters") {
		t.Fatalf("pass = %v; want held for the attesters", err)
	}
	if got := h.reads(); !slices.Equal(got, []int{rollout.AttestersPerWave, readSample}) {
		t.Errorf("read reports in calls of %v nodes; want the attesters' %d, then a sample of %d", got, rollout.AttestersPerWave, readSample)
	}

	// Attestations signed by another key than the nodes' enrolled ones
	// do not count.
	h.attest(att[0], rev)
	h.attest(att[1], rev)
	h.reports.signedBy = map[string]string{att[0]: testStatusKey("intruder"), att[1]: testStatusKey("intruder")}
	if err := h.pass(t); fault.ClassOf(err) != fault.Held {
		t.Fatalf("pass with untrusted attestations = %v; want held", err)
	}
	h.reads()

	h.reports.signedBy = nil
	if err := h.pass(t); err != nil {
		t.Fatalf("pass with two attestations = %v; want %s applied", err, rev)
	}
	if got := h.reads(); !slices.Equal(got, []int{rollout.AttestersPerWave}) {
		t.Errorf("read reports in calls of %v nodes; want the attesters' %d alone", got, rollout.AttestersPerWave)
	}
	if st := h.rep.last().Status; st.AppliedRevision != rev || len(st.Gates) != 0 {
		t.Errorf("report applied %s, gates %+v; want %s and no attestation of its own", st.AppliedRevision, st.Gates, rev)
	}
}

// Attesters that do not attest (they are down) hold the rest of their
// wave for two poll intervals; then each node reads the awaited wave
// itself.
func TestWaveGateReadsItselfWhenAttestersAreSilent(t *testing.T) {
	h := newAttestHarness(t, insecure())
	rev := h.revision(t, false)
	h.commitHealthy(rev)
	interval := 10 * time.Second // fleetYAML's pollInterval
	for i := range attestGrace {
		if err := h.pass(t); fault.ClassOf(err) != fault.Held {
			t.Fatalf("pass %d = %v; want held for the attesters", i, err)
		}
		h.now = h.now.Add(interval)
	}
	h.reads()
	if err := h.pass(t); err != nil {
		t.Fatalf("pass after %d intervals = %v; want %s applied", attestGrace, err, rev)
	}
	if got := h.reads(); !slices.Equal(got, []int{rollout.AttestersPerWave, readSample, len(h.canaries)}) {
		t.Errorf("read reports in calls of %v nodes; want the attesters' %d, a sample of %d, then all %d", got, rollout.AttestersPerWave, readSample, len(h.canaries))
	}
}

// An attester reads the awaited wave in full, opens, and says so in its
// report, also after a restart.
func TestWaveGateAttesterAttests(t *testing.T) {
	cfg := insecure()
	cfg.StateFile = filepath.Join(t.TempDir(), "state.json")
	h := newAttestHarness(t, cfg)
	rev := h.revision(t, true)
	h.commitHealthy(rev)
	if err := h.pass(t); err != nil {
		t.Fatalf("pass = %v; want %s applied", err, rev)
	}
	if got := h.reads(); !slices.Equal(got, []int{readSample, len(h.canaries)}) {
		t.Errorf("read reports in calls of %v nodes; want a sample of %d, then all %d", got, readSample, len(h.canaries))
	}
	want := []status.GateOpened{{Group: "all", Wave: "canary", Revision: rev, Healthy: len(h.canaries), Of: len(h.canaries), At: h.now}}
	if got := h.rep.last().Status.Gates; !slices.Equal(got, want) {
		t.Fatalf("report's gates = %+v; want %+v", got, want)
	}

	r, err := New(h.r.cfg, h.r.deps)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	if err := h.pass(t); err != nil {
		t.Fatalf("pass after a restart = %v", err)
	}
	if got := h.rep.last().Status.Gates; !slices.Equal(got, want) {
		t.Errorf("report's gates after a restart = %+v; want %+v", got, want)
	}

	// The next revision's report drops it.
	next := rev + "-next"
	h.commitHealthy(next)
	if err := h.pass(t); err != nil && fault.ClassOf(err) != fault.Held {
		t.Fatalf("pass for %s = %v", next, err)
	}
	for _, g := range h.rep.last().Status.Gates {
		if g.Revision == rev {
			t.Errorf("report for %s still attests %s: %+v", next, rev, g)
		}
	}
}
