package fleetsim

import (
	"strings"
	"testing"
	"time"
)

// TestFleet runs a handful of agents against the real nginx, fcgiwrap and
// git http-backend through every phase and checks the outcome: every node
// applied every change, rolled out in wave order, with a status ref on
// the server, and no push conflicted and no pass failed. It asserts no
// durations.
func TestFleet(t *testing.T) {
	res, err := Run(t.Context(), Config{
		Agents: 6, Interval: time.Second, GitWindow: 1, HeadWindow: 2,
		Heartbeats: 3, GrowthNodes: 2, Dir: t.TempDir(), Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Converged != 6 || res.StatusRefs != 6 {
		t.Errorf("%d nodes converged, %d status refs; want 6 and 6", res.Converged, res.StatusRefs)
	}
	if res.Conflicts != 0 || res.Failed != 0 {
		t.Errorf("%d conflicts, %d failed passes (%v); want none", res.Conflicts, res.Failed, res.Errors)
	}
	if !res.GateHeld {
		t.Error("a wave started before the wave before it had")
	}
	var nodes int
	for _, w := range res.Waves {
		nodes += w.Nodes
	}
	if len(res.Waves) != 3 || nodes != 6 {
		t.Errorf("waves %+v; want canary, early and rest holding the 6 nodes", res.Waves)
	}
	if res.Head.GitPolls >= res.Head.Polls {
		t.Errorf("%d of %d polls asked git with the head URL on; want fewer", res.Head.GitPolls, res.Head.Polls)
	}
	if res.Pushes == 0 || res.RegistryRequests < 1 {
		t.Errorf("%d status pushes, %.1f registry requests per node and change; want some", res.Pushes, res.RegistryRequests)
	}
	if res.Growth.Loose <= 0 || res.Growth.Packed <= 0 {
		t.Errorf("growth %+v; want heartbeats to add objects", res.Growth)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
