package fleetsim

import (
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/rollout"
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
	} else if later := int64(nodes - res.Waves[0].Nodes); res.GatesRead < later || res.GatesAttested != 0 {
		t.Errorf("gates opened %d times on a node's own read, %d on attesters; want at least %d (the nodes after the canary) and 0 (no wave of %d)",
			res.GatesRead, res.GatesAttested, later, rollout.AttestMinWave)
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

// TestFleetAttesters: with 48 agents the rest wave (33 nodes) has
// attesters, and its other nodes open their gate on the attesters' signed
// reports, read from the real server, instead of each reading the early
// wave.
func TestFleetAttesters(t *testing.T) {
	res, err := Run(t.Context(), Config{
		Agents: 48, Interval: 2 * time.Second, GitWindow: 1, HeadWindow: 2,
		Heartbeats: 1, GrowthNodes: 2, Dir: t.TempDir(), Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Converged != 48 || !res.GateHeld {
		t.Fatalf("%d nodes converged, gates held %v; want 48 and true", res.Converged, res.GateHeld)
	}
	if len(res.Waves) != 3 || res.Waves[2].Nodes < rollout.AttestMinWave {
		t.Fatalf("waves %+v; want a rest wave of at least %d nodes", res.Waves, rollout.AttestMinWave)
	}
	// The early wave reads the canary; of the rest, the attesters (and any
	// node whose attesters were late by two intervals) read the early
	// wave, and the others open on two attestations.
	if res.GatesAttested == 0 || res.GatesAttested+res.GatesRead < int64(res.Waves[1].Nodes+res.Waves[2].Nodes) {
		t.Errorf("gates opened %d times on attesters, %d on a node's own read; want some on attesters, %d in all at least",
			res.GatesAttested, res.GatesRead, res.Waves[1].Nodes+res.Waves[2].Nodes)
	}
}
