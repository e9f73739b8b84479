package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// TestFleetdRolloutWaves: the second wave applies a revision only after the
// canary has reported it healthy for the gate's healthyFor, read from the
// canary's status ref. No step depends on how fast a pass is: the gate that
// must hold is an hour long, and the test waits for a short gate to open
// by the canary's own report.
func TestFleetdRolloutWaves(t *testing.T) {
	const shortGate = 3 * time.Second
	ctd := runtimetest.StartT(t)
	reg := ocitest.StartDockerRegistry(t)
	img := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	f, url := servedFleet(t, reg)
	repo := f.repo
	f.workload("defect", img, 1, "info")
	group := func(healthyFor time.Duration) {
		repo.Write("groups/line-a.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Group
metadata: {name: line-a}
spec:
  selector: {matchLabels: {line: a}}
  workloads: [defect]
  rollout:
    waves:
      - {name: canary, selector: {matchLabels: {canary: "true"}}}
      - {name: rest}
    gate: {healthyFor: %s, minHealthy: 100%%}
`, healthyFor))
	}
	group(time.Hour)
	canary := newAgent(t, repo, url, ctd.Address, "canary-01", "", "--insecure-skip-verify", "--namespace", "canary")
	press := newAgent(t, repo, url, ctd.Address, "press-01", "", "--insecure-skip-verify", "--namespace", "press")
	// Each node's status key is enrolled before its first start: the gate
	// trusts only the canary's reports signed with it.
	keys := map[string]string{"canary-01": canary.statusKey(), "press-01": press.statusKey()}
	ports := map[string]int{}
	for _, n := range []string{"canary-01", "press-01"} {
		ports[n] = porttest.Port(t)
		label := ""
		if n == "canary-01" {
			label = `, canary: "true"`
		}
		repo.Write("nodes/"+n+".yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Node
metadata: {name: %s, labels: {line: a%s}}
spec:
  statusKey: %s
  overrides:
    defect: {args: ["--listen", ":%d"], ports: [%d]}
`, n, label, keys[n], ports[n], ports[n]))
	}
	rev1 := repo.Commit("line a: defect with a canary wave")

	// held runs one pass of press-01 that must be held, naming want in its
	// pass's result. The report says Waiting; while the hold lasts its
	// message keeps what it said when the hold began (a hold makes a status
	// commit when it starts and when it ends, not as its reason evolves).
	held := func(t *testing.T, want string) {
		t.Helper()
		out, err := press.once()
		if exitCode(err) != 1 {
			t.Fatalf("press-01 --once exited %v, want 1 (held)\n%s", err, out)
		}
		if c := press.report().Status.Conditions[0]; c.Reason != "Waiting" || !strings.Contains(c.Message, "waiting for wave canary") {
			t.Errorf("press-01 Ready = %+v; want Waiting for wave canary", c)
		}
		if !strings.Contains(out, "result=waiting") || !strings.Contains(out, want) {
			t.Errorf("press-01's pass was not held for %q:\n%s", want, out)
		}
	}

	t.Run("the second wave waits for the canary", func(t *testing.T) {
		held(t, "waiting for wave canary: 0/1")
		if _, ok := press.instances()["defect"]; ok {
			t.Error("press-01 started defect before the canary")
		}
		commits := press.statusCommits()
		canary.mustOnce()
		if in := canary.running("defect"); in.Revision != rev1 {
			t.Fatalf("canary runs %s, want %s", in.Revision, rev1)
		}
		held(t, "canary-01: healthy for")
		// The hold's reason moved (the canary runs it now), the hold did
		// not: no status commit.
		if n := press.statusCommits(); n != commits {
			t.Errorf("press-01 made %d status commits while its hold went on; want none", n-commits)
		}
	})

	// waitGate sleeps until the canary's report has been Ready for the
	// short gate: a lower bound, which load can only lengthen.
	waitGate := func(t *testing.T) {
		t.Helper()
		c := canary.report().Status.Conditions[0]
		if c.Status != "True" || c.LastTransitionTime.IsZero() {
			t.Fatalf("canary Ready = %+v, want True since a known time", c)
		}
		time.Sleep(time.Until(c.LastTransitionTime.Add(shortGate)))
	}

	t.Run("the gate opens once the canary was healthy long enough", func(t *testing.T) {
		group(shortGate)
		rev := repo.Commit("line a: a shorter gate")
		canary.mustOnce()
		waitGate(t)
		press.mustOnce()
		if in := press.running("defect"); in.Revision != rev {
			t.Errorf("press-01 runs %s, want %s", in.Revision, rev)
		}
	})

	t.Run("a new revision goes canary first again", func(t *testing.T) {
		f.workload("defect", img, 1, "debug")
		rev2 := repo.Commit("defect: debug logging")
		before := press.running("defect")
		held(t, "waiting for wave canary")
		if in := press.running("defect"); in.PID != before.PID {
			t.Error("press-01 changed before the canary had the new revision")
		}
		canary.mustOnce()
		waitGate(t)
		press.mustOnce()
		if in := press.running("defect"); in.Revision != rev2 {
			t.Errorf("press-01 runs %s, want %s", in.Revision, rev2)
		}
	})
}
