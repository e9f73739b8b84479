package chaos

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// maxKillDelay bounds how long after its start fleetd is killed: a pass
// that applies a change takes about a second or two here.
const maxKillDelay = 3 * time.Second

// change is one step of the cycle every kill point goes through, each
// from the state the previous one left.
type change struct {
	name string
	ws   workloads
}

// cycle is add, change env, change image, remove of the workload
// "defect" (v1, v2 its images).
func cycle(v1, v2 string) []change {
	return []change{
		{"add", workloads{"defect": {v1, "info"}}},
		{"change env", workloads{"defect": {v1, "debug"}}},
		{"change image", workloads{"defect": {v2, "debug"}}},
		{"remove", workloads{}},
	}
}

// defectImages pushes the two versions of the changing workload.
func (n *node) defectImages() (v1, v2 string) {
	return n.modelImage("models/defect", "defect-v1.json"), n.modelImage("models/defect", "defect-v2.json")
}

// killedPass starts fleetd --once and kills it with SIGKILL after delay
// (if it has not finished by then).
func (n *node) killedPass(delay time.Duration) {
	cmd := exec.Command(fleetdBin, n.args("--once")...)
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(delay):
		cmd.Process.Kill()
		<-done
	}
}

// settle runs fleetd --once until the node converges on rev (at most
// three passes) and returns how many passes that took, -1 when it did not.
func (n *node) settle(rev string, ws workloads) (int, check, string) {
	var c check
	var outs []string
	for i := 1; i <= 3; i++ {
		out, err := n.pass()
		outs = append(outs, fmt.Sprintf("pass %d after the fault (%v):\n%s", i, err, out))
		if c = n.converged(rev, ws); err == nil && c.ok() {
			return i, c, strings.Join(outs, "")
		}
	}
	return -1, c, strings.Join(outs, "")
}

// TestKillAnywhere: for each kill point, a change (add, change env, change
// image, remove) is committed, fleetd is killed at a random moment of its
// pass, and the next fleetd must converge in one pass, steady untouched.
func TestKillAnywhere(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	n := newNode(t, "")
	v1, v2 := n.defectImages()
	n.startSteady()
	fig := figure("fleetd killed (SIGKILL) at a random point of a pass", "kill points")
	steps := cycle(v1, v2)
	for i := range *points {
		step := steps[i%len(steps)]
		delay := time.Duration(rng.Int64N(int64(maxKillDelay)))
		rev := n.commit(fmt.Sprintf("point %d: %s", i, step.name), step.ws)
		n.killedPass(delay)
		passes, c, out := n.settle(rev, step.ws)
		restarted := n.steadyRestarted()
		fig.point(step.name, c, passes, restarted, nil, -1)
		if passes != 1 || restarted {
			t.Errorf("kill point %d (%s, killed after %v): converged after %d passes (want 1), steady restarted %v: %s\n%s",
				i, step.name, delay, passes, restarted, c, out)
		}
	}
}
