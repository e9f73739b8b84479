package rollout_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

const (
	revR   = "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"
	revOld = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// report is a node healthy on rev, Ready since readySince, reported at lastSeen.
func report(rev string, readySince, lastSeen time.Time) *status.NodeStatus {
	return &status.NodeStatus{Status: status.Status{
		ObservedRevision: rev,
		AppliedRevision:  rev,
		LastSeen:         lastSeen,
		Conditions:       []status.Condition{{Type: "Ready", Status: "True", Reason: "Applied", LastTransitionTime: readySince}},
		Workloads:        []status.Workload{{Name: "detector", State: status.StateRunning, Health: "healthy"}},
	}, Trust: status.Trust{Trusted: true, Reason: "signed by ssh-ed25519 key SHA256:test"}}
}

// lineA: canary (2 nodes by label), early (a third of the rest), rest.
func lineA() (spec.Group, map[string]map[string]string) {
	g := group("line-a",
		spec.Wave{Name: "canary", Selector: sel("canary", "true")},
		spec.Wave{Name: "early", Percent: 34},
		spec.Wave{Name: "rest"})
	g.Spec.Rollout.Gate = spec.Gate{HealthyFor: spec.Duration{Duration: 10 * time.Minute}, MinHealthy: "90%"}
	members := map[string]map[string]string{
		"c1": {"canary": "true"}, "c2": {"canary": "true"},
		"n1": nil, "n2": nil, "n3": nil,
	}
	return g, members
}

// nodeIn returns a node of wave i.
func nodeIn(t *testing.T, g spec.Group, members map[string]map[string]string, i int) string {
	t.Helper()
	w := rollout.Assign(g, members)
	if len(w) <= i || len(w[i].Nodes) == 0 {
		t.Fatalf("wave %d is empty: %v", i, w)
	}
	return w[i].Nodes[0]
}

func TestGate(t *testing.T) {
	g, members := lineA()
	early := nodeIn(t, g, members, 1)
	last := nodeIn(t, g, members, 2)
	earlyNodes := rollout.Assign(g, members)[1].Nodes
	healthyLong := report(revR, t0.Add(-15*time.Minute), t0)
	healthyShort := report(revR, t0.Add(-4*time.Minute), t0)
	stale := report(revOld, t0.Add(-time.Hour), t0)
	failing := report(revR, t0.Add(-time.Hour), t0)
	failing.Status.Conditions[0].Status, failing.Status.Conditions[0].Reason = "False", "Failing"
	unhealthy := report(revR, t0.Add(-time.Hour), t0)
	unhealthy.Status.Workloads[0].Health = "unhealthy"
	crashed := report(revR, t0.Add(-time.Hour), t0)
	crashed.Status.Workloads[0].State = status.StateFailed
	refused := report(revOld, t0.Add(-time.Hour), t0)
	refused.Status.ObservedRevision = revR
	refused.Status.Errors = []status.Error{{File: "workloads/detector.yaml", Line: 5, Field: "spec.image", Reason: "must be pinned by digest"}}
	noTime := report(revR, time.Time{}, t0)
	// Ready 12m ago, last reported 11m ago: lastSeen − transition is only
	// 1m, but the report is fresh, so the node has been healthy for 12m.
	freshOld := report(revR, t0.Add(-12*time.Minute), t0.Add(-11*time.Minute))
	// Healthy for long by its own account, but silent for longer than staleAfter.
	staleReport := report(revR, t0.Add(-3*time.Hour), t0.Add(-121*time.Minute))
	// Healthy by every word, but not signed by the node's enrolled key:
	// whoever could push its ref wrote it.
	forged := report(revR, t0.Add(-time.Hour), t0)
	forged.Trust = status.Trust{Reason: "signed by ssh-ed25519 key SHA256:x, not the enrolled ssh-ed25519 key SHA256:y"}
	unverified := report(revR, t0.Add(-time.Hour), t0)
	unverified.Trust = status.Trust{}

	tests := []struct {
		name    string
		g       spec.Group
		node    string
		reports map[string]*status.NodeStatus
		allowed bool
		wave    int
		reason  string // a substring
		retry   time.Duration
	}{
		{"no rollout", spec.Group{}, "c1", nil, true, -1, "has no rollout", 0},
		{"first wave", g, "c1", nil, true, 0, "wave canary is the first of group line-a", 0},
		{"held: nobody reported", g, early, nil, false, 1,
			"waiting for wave canary: 0/2 nodes healthy on 1a2b3c4 for 10m (need 90%); c1: never reported; c2: never reported", 0},
		{"held: one of two", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": stale}, false, 1,
			"waiting for wave canary: 1/2 nodes healthy on 1a2b3c4 for 10m (need 90%); c2: applied 9f8e7d6", 0},
		{"held: not for long enough", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": healthyShort}, false, 1,
			"c2: healthy for 4m", 6 * time.Minute},
		{"held: transition too recent, report fresh", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": report(revR, t0.Add(-7*time.Minute), t0.Add(-5*time.Minute))}, false, 1,
			"c2: healthy for 7m", 3 * time.Minute},
		{"open: fresh report, old transition", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": freshOld}, true, 1,
			"wave canary: 2/2 nodes healthy", 0},
		{"held: stale report", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": staleReport}, false, 1,
			"c2: last reported 2h1m ago (stale after 2h)", 0},
		{"open", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": report(revR, t0.Add(-10*time.Minute), t0)}, true, 1,
			"wave canary: 2/2 nodes healthy on 1a2b3c4 for 10m (need 90%)", 0},
		{"held: failing node", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": failing}, false, 1, "c2: Ready False (Failing)", 0},
		{"held: unhealthy workload", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": unhealthy}, false, 1, "c2: detector unhealthy", 0},
		{"held: crashed workload", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": crashed}, false, 1, "c2: detector failed", 0},
		{"held: refused revision", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": refused}, false, 1,
			"c2: applied 9f8e7d6, refused 1a2b3c4: workloads/detector.yaml:5: spec.image: must be pinned by digest", 0},
		{"held: forged healthy report", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": forged}, false, 1,
			"1/2 nodes healthy on 1a2b3c4 for 10m (need 90%); c2: untrusted report (signed by ssh-ed25519 key SHA256:x", 0},
		{"held: report never verified", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": unverified}, false, 1, "c2: untrusted report", 0},
		{"last wave held by untrusted early nodes", g, last, reportsFor(earlyNodes, forged), false, 2, "waiting for wave early: 0/2", 0},
		{"held: no transition time", g, early, map[string]*status.NodeStatus{"c1": healthyLong, "c2": noTime}, false, 1, "c2: its report lacks Ready's lastTransitionTime", 0},
		{"last wave waits for early, not canary", g, last, reportsFor(earlyNodes, healthyLong), true, 2, "wave early: 2/2 nodes healthy", 0},
		{"last wave held by early", g, last, map[string]*status.NodeStatus{"c1": healthyLong, "c2": healthyLong}, false, 2, "waiting for wave early: 0/2", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rollout.Gate(tt.g, tt.node, revR, members, tt.reports, t0, 0)
			if d.Allowed != tt.allowed || d.Wave != tt.wave || !strings.Contains(d.Reason, tt.reason) || d.RetryAfter != tt.retry {
				t.Errorf("Gate(%s) = %+v, want allowed %t, wave %d, retry %s, reason with %q", tt.node, d, tt.allowed, tt.wave, tt.retry, tt.reason)
			}
		})
	}
}

func reportsFor(nodes []string, r *status.NodeStatus) map[string]*status.NodeStatus {
	m := map[string]*status.NodeStatus{}
	for _, n := range nodes {
		m[n] = r
	}
	return m
}

// TestGateOpens follows one rollout: the gate holds while the canaries
// apply, holds while they have not been healthy long enough, and opens
// once they have, without another report, as long as their reports stay
// fresh. A canary that falls silent closes it again.
func TestGateOpens(t *testing.T) {
	g, members := lineA()
	early := nodeIn(t, g, members, 1)
	reports := map[string]*status.NodeStatus{}
	now := t0
	step := func(staleAfter time.Duration, want bool, why string, retry time.Duration) {
		t.Helper()
		d := rollout.Gate(g, early, revR, members, reports, now, staleAfter)
		if d.Allowed != want || !strings.Contains(d.Reason, why) || d.RetryAfter != retry {
			t.Errorf("at %s: Gate = %+v, want allowed %t, retry %s, reason with %q", now.Sub(t0), d, want, retry, why)
		}
	}
	reports["c1"] = report(revOld, t0.Add(-time.Hour), now)
	reports["c2"] = report(revOld, t0.Add(-time.Hour), now)
	step(0, false, "0/2", 0)
	// The canaries apply R and become ready at t0+1m.
	now = t0.Add(time.Minute)
	reports["c1"] = report(revR, now, now)
	reports["c2"] = report(revR, now, now)
	step(0, false, "c1: healthy for 0s", 10*time.Minute)
	// Nothing changes, nobody reports: the time counts all the same.
	now = t0.Add(5 * time.Minute)
	step(0, false, "c1: healthy for 4m", 6*time.Minute)
	now = t0.Add(11 * time.Minute)
	step(0, true, "wave canary: 2/2 nodes healthy on 1a2b3c4 for 10m", 0)
	// With a shorter staleAfter the same reports are too old.
	step(9*time.Minute, false, "c1: last reported 10m ago (stale after 9m)", 0)
	step(10*time.Minute, true, "2/2", 0)
	// c2 keeps its heartbeat; c1 falls silent past the default 2h.
	now = t0.Add(2*time.Hour + 2*time.Minute)
	reports["c2"] = report(revR, t0.Add(time.Minute), now)
	step(0, false, "1/2 nodes healthy on 1a2b3c4 for 10m (need 90%); c1: last reported 2h1m ago (stale after 2h)", 0)
}

func TestGateMinHealthy(t *testing.T) {
	members := fleet(11, nil)
	// ceil(90% of 11) = 10 nodes; the one left is in the implicit wave.
	g := group("g", spec.Wave{Name: "most", Percent: 90})
	g.Spec.Rollout.Gate.MinHealthy = "80%"
	waves := rollout.Assign(g, members)
	if len(waves) != 2 || len(waves[0].Nodes) != 10 || len(waves[1].Nodes) != 1 {
		t.Fatalf("Assign = %v", waves)
	}
	node := waves[1].Nodes[0]
	reports := map[string]*status.NodeStatus{}
	for _, n := range waves[0].Nodes[:6] {
		reports[n] = report(revR, t0, t0)
	}
	d := rollout.Gate(g, node, revR, members, reports, t0, 0)
	if d.Allowed || !strings.Contains(d.Reason, "6/10 nodes healthy on 1a2b3c4 (need 80%)") || !strings.HasSuffix(d.Reason, "; and 1 more") {
		t.Errorf("6 of 10 at 80%%: %+v, want held, naming 3 nodes and 1 more", d)
	}
	for _, n := range waves[0].Nodes[6:8] {
		reports[n] = report(revR, t0, t0)
	}
	if d := rollout.Gate(g, node, revR, members, reports, t0, 0); !d.Allowed || d.WaveName != spec.ImplicitWave || d.Wave != 1 {
		t.Errorf("8 of 10 at 80%%: %+v, want allowed", d)
	}
}

func TestGateEmptyWave(t *testing.T) {
	g := group("g",
		spec.Wave{Name: "canary", Selector: sel("canary", "true")},
		spec.Wave{Name: "lab", Selector: sel("site", "lab")},
		spec.Wave{Name: "rest"})
	members := map[string]map[string]string{"c1": {"canary": "true"}, "n1": nil}
	// lab is empty: rest waits for canary.
	d := rollout.Gate(g, "n1", revR, members, nil, t0, 0)
	if d.Allowed || d.Wave != 2 || !strings.Contains(d.Reason, "waiting for wave canary: 0/1") {
		t.Errorf("Gate = %+v, want held by canary", d)
	}
	d = rollout.Gate(g, "n1", revR, members, map[string]*status.NodeStatus{"c1": report(revR, t0, t0)}, t0, 0)
	if !d.Allowed {
		t.Errorf("Gate = %+v, want allowed (healthyFor 0)", d)
	}
	// No canary at all: every earlier wave is empty.
	delete(members, "c1")
	d = rollout.Gate(g, "n1", revR, members, nil, t0, 0)
	if !d.Allowed || !strings.Contains(d.Reason, "before rest are empty") {
		t.Errorf("Gate = %+v, want allowed: earlier waves empty", d)
	}
}

// GateUnread decides without the moved reports only when they cannot open
// the gate, whatever they say; the reason names them as not read.
func TestGateUnread(t *testing.T) {
	g, members := lineA() // early waits for both canaries (90% of 2)
	early := nodeIn(t, g, members, 1)
	healthyLong := report(revR, t0.Add(-15*time.Minute), t0)
	healthyShort := report(revR, t0.Add(-5*time.Minute), t0)
	behind := report(revOld, t0.Add(-time.Hour), t0)
	for _, c := range []struct {
		name    string
		reports map[string]*status.NodeStatus
		unread  []string
		decided bool
		reason  string
	}{
		{"a canary behind: closed whatever c2 says", map[string]*status.NodeStatus{"c1": behind}, []string{"c2"}, true, "0/2 nodes healthy on 1a2b3c4 for 10m (need 90%); c1: applied 9f8e7d6; c2: new report not read"},
		{"a canary healthy too shortly: closed whatever c2 says", map[string]*status.NodeStatus{"c1": healthyShort}, []string{"c2"}, true, "c1: healthy for 5m; c2: new report not read"},
		{"a canary healthy: c2 may open it", map[string]*status.NodeStatus{"c1": healthyLong}, []string{"c2"}, false, ""},
		{"both unread", map[string]*status.NodeStatus{}, []string{"c1", "c2"}, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, decided := rollout.GateUnread(g, early, revR, members, c.reports, c.unread, t0, 0)
			if decided != c.decided {
				t.Fatalf("decided = %v, want %v (%+v)", decided, c.decided, d)
			}
			if !decided {
				return
			}
			if d.Allowed || !strings.Contains(d.Reason, c.reason) {
				t.Errorf("decision %+v; want closed with %q", d, c.reason)
			}
			// Whatever the unread reports say, Gate agrees.
			for _, r := range []*status.NodeStatus{healthyLong, behind, nil} {
				all := map[string]*status.NodeStatus{}
				for n, rep := range c.reports {
					all[n] = rep
				}
				for _, n := range c.unread {
					all[n] = r
				}
				if rollout.Gate(g, early, revR, members, all, t0, 0).Allowed {
					t.Errorf("Gate opens with the unread reports as %+v", r)
				}
			}
		})
	}
}
