package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/status"
)

// fakeReports serves other nodes' reports. A report is trusted when the
// status key the reconciler passes for its node is the one it is signed
// with: signedBy, else testStatusKey(node).
type fakeReports struct {
	reports  map[string]*status.NodeStatus
	signedBy map[string]string
	asked    [][]string
}

func (f *fakeReports) Reports(_ context.Context, nodes []string, statusKeys map[string]string) (map[string]*status.NodeStatus, error) {
	f.asked = append(f.asked, nodes)
	out := map[string]*status.NodeStatus{}
	for _, n := range nodes {
		if st, ok := f.reports[n]; ok {
			cp := *st
			key, ok := f.signedBy[n]
			if !ok {
				key = testStatusKey(n)
			}
			cp.Trust = status.Trust{Reason: "not signed by the enrolled key"}
			if statusKeys[n] != "" && statusKeys[n] == key {
				cp.Trust = status.Trust{Trusted: true}
			}
			out[n] = &cp
		}
	}
	return out, nil
}

// testStatusKey is a well-formed ed25519 status key line for node.
func testStatusKey(node string) string {
	wire := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	sum := sha256.Sum256([]byte(node))
	blob := append(wire([]byte("ssh-ed25519")), wire(sum[:])...)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " fleetd@" + node
}

// healthyReport is a report of node at rev, Ready since since.
func healthyReport(node, rev string, since, seen time.Time) *status.NodeStatus {
	return &status.NodeStatus{APIVersion: status.APIVersion, Kind: status.Kind, Metadata: status.Meta{Name: node},
		Status: status.Status{AppliedRevision: rev, ObservedRevision: rev, LastSeen: seen,
			Conditions: []status.Condition{{Type: status.ConditionReady, Status: "True", Reason: status.ReasonApplied, LastTransitionTime: since}},
			Workloads:  []status.Workload{{Name: "detector", State: status.StateRunning, Health: "healthy"}}}}
}

// wavedTree is a fleet where group all has a canary wave (canary-01) and
// the rest (press-01, this node).
func wavedTree(env string) fstest.MapFS {
	fsys := tree(map[string]string{"detector": workloadYAML("detector", digest("a"), env)})
	fsys["groups/all.yaml"].Data = groupAll(`
      - {name: canary, selector: {matchLabels: {canary: "true"}}}
      - {name: rest}`, "{healthyFor: 10m, minHealthy: 100%}")
	fsys["nodes/canary-01.yaml"] = enrolledNode("canary-01", `canary: "true"`)
	fsys["nodes/press-01.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-01}\n")}
	return fsys
}

// groupAll is group all, selecting every node, with these waves and gate.
func groupAll(waves, gate string) []byte {
	return []byte(`apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: all}
spec:
  selector: {}
  workloads: [detector]
  rollout:
    waves:` + waves + `
    gate: ` + gate + "\n")
}

// enrolledNode is the file of node with labels and its test status key.
func enrolledNode(node, labels string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: " + node + ", labels: {" + labels + "}}\nspec: {statusKey: " + testStatusKey(node) + "}\n")}
}

func TestWaveGateHoldsThenOpens(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	reports := &fakeReports{reports: map[string]*status.NodeStatus{}}
	h := newHarness(t, insecure())
	h.r.deps.Reports = reports
	h.r.deps.Now = func() time.Time { return now }
	h.src.trees["rev1"], h.src.head = wavedTree("info"), "rev1"
	// The first revision of a node with nothing applied yet is gated too.
	reports.reports["canary-01"] = healthyReport("canary-01", "rev1", now.Add(-time.Hour), now)
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	before, _ := h.rt.get("detector")

	h.src.trees["rev2"], h.src.head = wavedTree("debug"), "rev2"
	err := h.pass(t)
	if err == nil || fault.ClassOf(err) != fault.Held {
		t.Fatalf("pass = %v; want the revision held", err)
	}
	if in, _ := h.rt.get("detector"); in.PID != before.PID {
		t.Error("a held revision changed the container")
	}
	st := h.rep.last().Status
	if c := st.Conditions[0]; c.Reason != status.ReasonWaiting || !strings.Contains(c.Message, "group all, wave rest: waiting for wave canary") {
		t.Errorf("condition = %+v", c)
	}
	if st.AppliedRevision != "rev1" || len(st.Errors) != 0 {
		t.Errorf("status = %+v", st)
	}
	if got := reports.asked[len(reports.asked)-1]; len(got) != 1 || got[0] != "canary-01" {
		t.Errorf("asked for reports of %v; want the canary wave only", got)
	}

	// The canary applies rev2; healthy for 5 minutes is not enough yet.
	reports.reports["canary-01"] = healthyReport("canary-01", "rev2", now.Add(-5*time.Minute), now)
	if err := h.pass(t); fault.ClassOf(err) != fault.Held {
		t.Fatalf("pass = %v; want still held", err)
	}
	trees := h.src.treeN
	now = now.Add(6 * time.Minute)
	if err := h.pass(t); err != nil {
		t.Fatalf("pass after the canary was healthy for 11m: %v", err)
	}
	if h.src.treeN != trees {
		t.Error("a held revision was fetched again on every poll")
	}
	if in, _ := h.rt.get("detector"); in.Revision != "rev2" {
		t.Errorf("detector = %+v; want rev2 once the gate opened", in)
	}
}

// TestWaveGateCountsTrustedReportsOnly: the gate asks for reports with the
// status keys the revision enrols, and a healthy report not signed by its
// node's key never opens it.
func TestWaveGateCountsTrustedReportsOnly(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	reports := &fakeReports{reports: map[string]*status.NodeStatus{}, signedBy: map[string]string{}}
	h := newHarness(t, insecure())
	h.r.deps.Reports = reports
	h.r.deps.Now = func() time.Time { return now }
	reports.reports["canary-01"] = healthyReport("canary-01", "rev1", now.Add(-time.Hour), now)
	h.src.trees["rev1"], h.src.head = wavedTree("info"), "rev1"
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	// Someone else signs the canary's healthy report of rev2.
	reports.signedBy["canary-01"] = testStatusKey("intruder")
	reports.reports["canary-01"] = healthyReport("canary-01", "rev2", now.Add(-time.Hour), now)
	h.src.trees["rev2"], h.src.head = wavedTree("debug"), "rev2"
	if err := h.pass(t); fault.ClassOf(err) != fault.Held {
		t.Fatalf("pass with a forged canary report = %v; want held", err)
	}
	if c := h.rep.last().Status.Conditions[0]; !strings.Contains(c.Message, "canary-01: untrusted report") {
		t.Errorf("condition = %+v; want the canary's report named untrusted", c)
	}
	if in, _ := h.rt.get("detector"); in.Revision != "rev1" {
		t.Errorf("detector = %+v; want rev1 kept", in)
	}
	// Signed by the enrolled key: the gate opens.
	delete(reports.signedBy, "canary-01")
	if err := h.pass(t); err != nil {
		t.Fatalf("pass with the canary's own report: %v", err)
	}
	if in, _ := h.rt.get("detector"); in.Revision != "rev2" {
		t.Errorf("detector = %+v; want rev2", in)
	}
}

func TestUpdateLockDefersThenExpires(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	lock := filepath.Join(dir, "detector.lock")
	h := newHarness(t, insecure())
	h.r.deps.Now = func() time.Time { return now }
	withLock := func(env string) fstest.MapFS {
		fsys := tree(map[string]string{"detector": workloadYAML("detector", digest("a"), env) +
			"  updateLock: {path: " + lock + ", maxDeferral: 1h}\n"})
		fsys["fleet.yaml"].Data = []byte(fleetYAML + "  hostPaths: [" + dir + "]\n")
		return fsys
	}
	h.src.trees["rev1"], h.src.head = withLock("info"), "rev1"
	if err := h.pass(t); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := h.rt.get("detector")
	h.src.trees["rev2"], h.src.head = withLock("debug"), "rev2"
	if err := h.pass(t); fault.ClassOf(err) != fault.Held {
		t.Fatalf("pass with the lock held = %v; want held", err)
	}
	if in, _ := h.rt.get("detector"); in.PID != before.PID {
		t.Error("the update went ahead although the lock was held")
	}
	w := h.rep.last().Status.Workloads[0]
	if !strings.Contains(w.Message, "update deferred by lock "+lock) {
		t.Errorf("workload message = %q", w.Message)
	}
	// The maximum deferral passes: the update goes ahead anyway.
	now = now.Add(61 * time.Minute)
	if err := h.pass(t); err != nil {
		t.Fatalf("pass after maxDeferral: %v", err)
	}
	if in, _ := h.rt.get("detector"); in.Revision != "rev2" {
		t.Errorf("detector = %+v; want rev2 after the deferral expired", in)
	}
	// Releasing the lock lets the next update through at once.
	os.Remove(lock)
	h.src.trees["rev3"], h.src.head = withLock("warn"), "rev3"
	if err := h.pass(t); err != nil {
		t.Fatalf("pass without the lock: %v", err)
	}
}

// A node of the last of three waves asks for the reports of the wave just
// before its own, not of every earlier wave: a held node asks again on
// every poll, and the canary's reports say nothing about its gate. When
// that wave is empty it asks for the one before.
func TestWaveGateReadsOnlyTheAwaitedWave(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name       string
		earlyNodes []string
		want       string
	}{
		{"the early wave has a node", []string{"early-01"}, "early-01"},
		{"the early wave is empty", nil, "canary-01"},
	} {
		t.Run(c.name, func(t *testing.T) {
			reports := &fakeReports{reports: map[string]*status.NodeStatus{}}
			h := newHarness(t, insecure())
			h.r.deps.Reports = reports
			h.r.deps.Now = func() time.Time { return now }
			fsys := wavedTree("info")
			fsys["groups/all.yaml"].Data = groupAll(`
      - {name: canary, selector: {matchLabels: {canary: "true"}}}
      - {name: early, selector: {matchLabels: {early: "true"}}}
      - {name: rest}`, "{minHealthy: 100%}")
			for _, n := range c.earlyNodes {
				fsys["nodes/"+n+".yaml"] = enrolledNode(n, `early: "true"`)
			}
			h.src.trees["rev1"], h.src.head = fsys, "rev1"
			if err := h.pass(t); fault.ClassOf(err) != fault.Held {
				t.Fatalf("pass = %v; want held", err)
			}
			// (press-01, this node, may ask for its own last report.)
			var gate [][]string
			for _, a := range reports.asked {
				if len(a) != 1 || a[0] != "press-01" {
					gate = append(gate, a)
				}
			}
			if len(gate) != 1 || len(gate[0]) != 1 || gate[0][0] != c.want {
				t.Errorf("asked for reports of %v; want [[%s]]", reports.asked, c.want)
			}
			st := h.rep.last().Status
			if msg := st.Conditions[0].Message; !strings.Contains(msg, c.want+": never reported") {
				t.Errorf("Ready message %q does not name %s", msg, c.want)
			}
		})
	}
}

// peekingReports is fakeReports that also answers KnownReports: the
// reports of nodes in moved are not held (their refs moved).
type peekingReports struct {
	*fakeReports
	moved   map[string]bool
	fetched int // calls of Reports for other nodes than this one
}

func (p *peekingReports) Reports(ctx context.Context, nodes []string, keys map[string]string) (map[string]*status.NodeStatus, error) {
	if len(nodes) != 1 || nodes[0] != "press-01" {
		p.fetched++
	}
	return p.fakeReports.Reports(ctx, nodes, keys)
}

func (p *peekingReports) KnownReports(ctx context.Context, nodes []string, keys map[string]string) (map[string]*status.NodeStatus, []string, error) {
	asked := p.asked // (not a read of the reports)
	all, _ := p.fakeReports.Reports(ctx, nodes, keys)
	p.asked = asked
	var moved []string
	for _, n := range nodes {
		if p.moved[n] {
			delete(all, n)
			moved = append(moved, n)
		}
	}
	return all, moved, nil
}

// A held node fetches the awaited wave's moved reports only when they
// could open its gate: while one canary it holds already is behind, the
// other's new report cannot, and is not fetched.
func TestWaveGateLeavesMovedReportsUnreadWhileTheyCannotOpenIt(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	reports := &peekingReports{fakeReports: &fakeReports{reports: map[string]*status.NodeStatus{}}, moved: map[string]bool{"canary-02": true}}
	h := newHarness(t, insecure())
	h.r.deps.Reports = reports
	h.r.deps.Now = func() time.Time { return now }
	fsys := wavedTree("info")
	fsys["nodes/canary-02.yaml"] = enrolledNode("canary-02", `canary: "true"`)
	h.src.trees["rev1"], h.src.head = fsys, "rev1"
	reports.reports["canary-01"] = healthyReport("canary-01", "rev0", now.Add(-time.Hour), now)
	reports.reports["canary-02"] = healthyReport("canary-02", "rev1", now.Add(-time.Hour), now)

	if err := h.pass(t); fault.ClassOf(err) != fault.Held {
		t.Fatalf("pass = %v; want held", err)
	}
	if reports.fetched != 0 {
		t.Errorf("fetched the reports %d times; want canary-02's moved report left unread", reports.fetched)
	}
	if msg := h.rep.last().Status.Conditions[0].Message; !strings.Contains(msg, "canary-01: applied rev0") || !strings.Contains(msg, "canary-02: new report not read") {
		t.Errorf("Ready message %q; want canary-01 behind and canary-02 not read", msg)
	}

	// canary-01 catches up: now canary-02's report may open the gate, and
	// is fetched; both healthy, the revision applies.
	reports.reports["canary-01"] = healthyReport("canary-01", "rev1", now.Add(-time.Hour), now)
	if err := h.pass(t); err != nil {
		t.Fatalf("pass = %v; want rev1 applied", err)
	}
	if reports.fetched != 1 {
		t.Errorf("fetched the reports %d times; want once", reports.fetched)
	}
}

// When every report of the awaited wave moved at once, a held node reads a
// few of them first: one that is behind keeps the gate closed, and the
// rest stay unread. Only when the few could all count are the rest read.
func TestWaveGateReadsASampleOfMovedReportsFirst(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	reports := &peekingReports{fakeReports: &fakeReports{reports: map[string]*status.NodeStatus{}}, moved: map[string]bool{}}
	h := newHarness(t, insecure())
	h.r.deps.Reports = reports
	h.r.deps.Now = func() time.Time { return now }
	fsys := wavedTree("info")
	var canaries []string
	for i := 1; i <= 3*readSample; i++ {
		n := fmt.Sprintf("canary-%02d", i)
		canaries = append(canaries, n)
		fsys["nodes/"+n+".yaml"] = enrolledNode(n, `canary: "true"`)
	}
	h.src.trees["rev1"], h.src.head = fsys, "rev1"
	moveAll := func(rev string, ready bool) {
		for _, n := range canaries {
			r := healthyReport(n, rev, now.Add(-time.Hour), now)
			if !ready {
				r.Status.Conditions[0].Status = status.ConditionFalse
			}
			reports.reports[n], reports.moved[n] = r, true
		}
	}
	// gateReads is the sizes of the calls of Reports for the canaries
	// since it was last called; calls keeps them.
	var calls [][]string
	gateReads := func() []int {
		var sizes []int
		calls = nil
		for _, a := range reports.asked {
			if len(a) != 1 || a[0] != "press-01" {
				sizes, calls = append(sizes, len(a)), append(calls, a)
			}
		}
		reports.asked = nil
		return sizes
	}

	// Every canary committed that it holds on rev0: a few reports read
	// show the gate stays closed.
	moveAll("rev0", false)
	if err := h.pass(t); fault.ClassOf(err) != fault.Held {
		t.Fatalf("pass = %v; want held", err)
	}
	if got := gateReads(); !slices.Equal(got, []int{readSample}) {
		t.Errorf("read reports in calls of %v nodes; want one of %d", got, readSample)
	}
	if msg := h.rep.last().Status.Conditions[0].Message; !strings.Contains(msg, "new report not read") && !strings.Contains(msg, "applied rev0") {
		t.Errorf("Ready message %q names neither a canary behind nor a report unread", msg)
	}

	// The few read are healthy on rev1 and the others still hold: those
	// few cannot keep the gate closed, so all are read; the next time
	// every report moves, the few read first are among the others.
	first := calls[0]
	moveAll("rev0", false)
	for _, n := range first {
		reports.reports[n] = healthyReport(n, "rev1", now.Add(-time.Hour), now)
	}
	for range 2 {
		if err := h.pass(t); fault.ClassOf(err) != fault.Held {
			t.Fatalf("pass = %v; want held", err)
		}
	}
	if got := gateReads(); !slices.Equal(got, []int{readSample, len(canaries), readSample}) {
		t.Fatalf("read reports in calls of %v nodes; want %d, all %d, then %d", got, readSample, len(canaries), readSample)
	}
	if !slices.Equal(calls[0], first) || slices.ContainsFunc(calls[2], func(n string) bool { return slices.Contains(first, n) }) {
		t.Errorf("read first %v, then %v, then %v; want the same few, then others", first, calls[0], calls[2])
	}

	// Every canary is healthy on rev1: the few read could all count, so
	// every report is read and the gate opens.
	moveAll("rev1", true)
	if err := h.pass(t); err != nil {
		t.Fatalf("pass = %v; want rev1 applied", err)
	}
	if got := gateReads(); !slices.Equal(got, []int{readSample, len(canaries)}) {
		t.Errorf("read reports in calls of %v nodes; want %d, then all %d", got, readSample, len(canaries))
	}
}
