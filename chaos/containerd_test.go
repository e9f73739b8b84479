package chaos

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// maxDown bounds how long containerd stays down once killed.
const maxDown = 2 * time.Second

// maxPassKill bounds when containerd is killed after fleetd --once
// started: a pass that applies a change takes about a second here, so
// most kills land inside it.
const maxPassKill = 1500 * time.Millisecond

// killContainerd kills containerd with SIGKILL, keeps it down for down and
// starts it again on the same directories (tasks keep running under their
// shims, as with systemd's KillMode=process).
func (n *node) killContainerd(down time.Duration) {
	n.t.Helper()
	if err := n.ctd.KillProcess(); err != nil {
		n.t.Fatal(err)
	}
	time.Sleep(down)
	if err := n.ctd.StartProcess(); err != nil {
		n.t.Fatal(err)
	}
}

// TestContainerdKilled: for each point, a change is committed, fleetd
// --once starts, and containerd is killed with SIGKILL at a random moment
// of the pass and started again after a random while. fleetd must not
// exit 0 unless the node converged (a pass that containerd's death kept
// from converging is transient), and the first pass after containerd is
// back must converge: no spec marked failed, steady untouched.
func TestContainerdKilled(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 2))
	n := newNode(t, "")
	v1, v2 := n.defectImages()
	n.startSteady()
	fig := figure("containerd killed (SIGKILL) and restarted during a `fleetd --once` pass", "points")
	steps := cycle(v1, v2)
	for i := range *faultPoints {
		step := steps[i%len(steps)]
		delay := time.Duration(rng.Int64N(int64(maxPassKill)))
		down := time.Duration(rng.Int64N(int64(maxDown)))
		head := n.statusHead()
		rev := n.commit(fmt.Sprintf("point %d: %s", i, step.name), step.ws)
		cmd, out := n.start(n.args("--once"))
		time.Sleep(delay)
		n.killContainerd(down)
		exitErr := cmd.Wait()
		c := n.converged(rev, step.ws)
		if exitErr == nil && !c.ok() {
			fig.exitZero++
			t.Errorf("point %d (%s, containerd killed after %v, down %v): fleetd --once exited 0 but the node did not converge: %s\n%s",
				i, step.name, delay, down, c, out)
		}
		passes := 0 // the pass containerd's death cut into converged
		var more string
		if exitErr != nil || !c.ok() {
			passes, c, more = n.settle(rev, step.ws)
		}
		restarted := n.steadyRestarted()
		commits := perClass(n.statusCommits(head))
		fig.point(step.name, c, passes, restarted, commits, -1)
		if passes > 1 || !c.ok() || restarted || commits["retrying"] > 2 {
			t.Errorf("point %d (%s, containerd killed after %v, down %v): converged after %d more passes (want at most 1), steady restarted %v, status commits %v: %s\n%s\n%s",
				i, step.name, delay, down, passes, restarted, commits, c, out, more)
		}
	}
}

// TestContainerdKilledUnderAgent: the same fault under a long-running
// fleetd (its supervisor, its retries): after containerd is back, the
// first pass the agent begins converges the node.
func TestContainerdKilledUnderAgent(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	n := newNode(t, "")
	v1, v2 := n.defectImages()
	rev := n.commit("steady", workloads{})
	cmd, out := n.start(n.args())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if c := n.await(rev, workloads{}); !c.ok() {
		t.Fatalf("agent's first sync: %s\n%s", c, out)
	}
	n.steadyRestarted()
	fig := figure("containerd killed (SIGKILL) and restarted under a long-running fleetd", "points")
	steps := cycle(v1, v2)
	for i := range *faultPoints {
		step := steps[i%len(steps)]
		delay := time.Duration(rng.Int64N(int64(maxKillDelay)))
		down := time.Duration(rng.Int64N(int64(maxDown)))
		head := n.statusHead()
		rev := n.commit(fmt.Sprintf("point %d: %s", i, step.name), step.ws)
		time.Sleep(delay)
		n.killContainerd(down)
		cleared := time.Now()
		passes := awaitApplied(out, cleared)
		c := n.await(rev, step.ws)
		restarted := n.steadyRestarted()
		commits := perClass(n.statusCommits(head))
		if !c.ok() || passes == 0 {
			passes = -1
		}
		fig.point(step.name, c, passes, restarted, commits, -1)
		if passes != 1 || restarted || commits["retrying"] > 2 {
			t.Errorf("point %d (%s, containerd killed %v after the commit, down %v): converged at pass %d begun after containerd was back (want 1), steady restarted %v, status commits %v: %s\n%s",
				i, step.name, delay, down, passes, restarted, commits, c, out)
		}
	}
}

// await waits until the node converged on rev (or two minutes passed, a
// bound for a hang, not a target) and returns the last check.
func (n *node) await(rev string, ws workloads) check {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c := n.converged(rev, ws)
		if c.ok() || time.Now().After(deadline) {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitApplied waits until fleetd logged a pass begun after cleared that
// ended applied (or two minutes passed) and returns its position among
// those passes (0: none).
func awaitApplied(out *lockedBuffer, cleared time.Time) int {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n := passesUntilApplied(out.String(), cleared); n > 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// passesUntilApplied reads fleetd's log: of the passes it began after
// cleared, the position of the first that ended applied (0: none).
func passesUntilApplied(log string, cleared time.Time) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := logFields(sc.Text())
		if f["msg"] != "pass" {
			continue
		}
		end, err1 := time.Parse(time.RFC3339Nano, f["time"])
		elapsed, err2 := time.ParseDuration(f["elapsed"])
		if err1 != nil || err2 != nil || end.Add(-elapsed).Before(cleared) {
			continue
		}
		n++
		if f["result"] == "applied" {
			return n
		}
	}
	return 0
}

// logFields reads the plain key=value fields of a slog text line.
func logFields(line string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}
