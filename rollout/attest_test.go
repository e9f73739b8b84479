package rollout_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// bigGroup: a canary wave of 4 nodes by label and a rest of n.
func bigGroup(n int) (spec.Group, map[string]map[string]string) {
	g := group("big", spec.Wave{Name: "canary", Selector: sel("canary", "true")}, spec.Wave{Name: "rest"})
	g.Spec.Rollout.Gate = spec.Gate{MinHealthy: "100%"}
	members := map[string]map[string]string{}
	for i := range 4 {
		members[fmt.Sprintf("c%d", i)] = map[string]string{"canary": "true"}
	}
	for i := range n {
		members[fmt.Sprintf("n%03d", i)] = nil
	}
	return g, members
}

func TestAttesters(t *testing.T) {
	g, members := bigGroup(rollout.AttestMinWave)
	a := rollout.AssignFor(g, "n000", members)
	got := a.Attesters(revR)
	if len(got) != rollout.AttestersPerWave || !slices.Equal(got, rollout.AttestersOf(revR, a.Waves[1].Nodes)) {
		t.Fatalf("attesters of %s = %v; want %d of the rest wave", revR[:7], got, rollout.AttestersPerWave)
	}
	for _, n := range got {
		if !slices.Contains(a.Waves[1].Nodes, n) {
			t.Errorf("attester %s is not in the rest wave", n)
		}
	}
	// Every node of the wave names the same attesters; another revision
	// names others.
	if other := rollout.AssignFor(g, "n017", members).Attesters(revR); !slices.Equal(other, got) {
		t.Errorf("n017 names attesters %v, n000 %v", other, got)
	}
	if slices.Equal(a.Attesters(revOld), got) {
		t.Errorf("revisions %s and %s have the same attesters %v", revR[:7], revOld[:7], got)
	}
	// The first wave awaits none; a wave smaller than AttestMinWave reads
	// the awaited wave itself.
	if c := rollout.AssignFor(g, "c0", members).Attesters(revR); c != nil {
		t.Errorf("the canary wave has attesters %v", c)
	}
	small, smallMembers := bigGroup(rollout.AttestMinWave - 1)
	if s := rollout.AssignFor(small, "n000", smallMembers).Attesters(revR); s != nil {
		t.Errorf("a wave of %d nodes has attesters %v", rollout.AttestMinWave-1, s)
	}
}

func TestAttested(t *testing.T) {
	g, members := bigGroup(40)
	a := rollout.AssignFor(g, "n000", members)
	att := a.Attesters(revR)
	opened := func(rev, wave string, trusted bool, seen time.Time) *status.NodeStatus {
		r := report(revR, t0.Add(-time.Hour), seen)
		r.Status.Gates = []status.GateOpened{{Group: "big", Wave: wave, Revision: rev, Healthy: 4, Of: 4, At: seen}}
		r.Trust.Trusted = trusted
		return r
	}
	for _, tc := range []struct {
		name    string
		reports map[string]*status.NodeStatus
		want    bool
	}{
		{"none", nil, false},
		{"one of quorum", map[string]*status.NodeStatus{att[0]: opened(revR, "canary", true, t0)}, false},
		{"quorum", map[string]*status.NodeStatus{att[0]: opened(revR, "canary", true, t0), att[2]: opened(revR, "canary", true, t0)}, true},
		{"one untrusted", map[string]*status.NodeStatus{att[0]: opened(revR, "canary", true, t0), att[1]: opened(revR, "canary", false, t0)}, false},
		{"one stale", map[string]*status.NodeStatus{att[0]: opened(revR, "canary", true, t0), att[1]: opened(revR, "canary", true, t0.Add(-3*time.Hour))}, false},
		{"one for another revision", map[string]*status.NodeStatus{att[0]: opened(revR, "canary", true, t0), att[1]: opened(revOld, "canary", true, t0)}, false},
		{"one for another wave", map[string]*status.NodeStatus{att[0]: opened(revR, "canary", true, t0), att[1]: opened(revR, "rest", true, t0)}, false},
		{"not attesters", map[string]*status.NodeStatus{"n039": opened(revR, "canary", true, t0), "n038": opened(revR, "canary", true, t0)}, false},
	} {
		reports := tc.reports
		if tc.name == "not attesters" && (slices.Contains(att, "n039") || slices.Contains(att, "n038")) {
			continue // the hash chose them: nothing to show
		}
		d, ok := a.Attested(revR, att, reports, t0, 0)
		if ok != tc.want || d.Allowed != tc.want {
			t.Errorf("%s: attested = %v (%+v); want %v", tc.name, ok, d, tc.want)
		}
	}
}
