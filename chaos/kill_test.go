package chaos

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/status"
)

var (
	points  = flag.Int("points", 8, "kill points to try (make chaos: 100)")
	seed    = flag.Uint64("seed", 0, "random seed (0: from the clock)")
	results = flag.String("results", "", "write the figures as a section of this markdown file (bench/RESULTS.md)")
)

// maxKillDelay bounds how long after its start fleetd is killed: a pass
// that applies a change takes about a second or two here.
const maxKillDelay = 3 * time.Second

// node is the one node of the fleet under test.
type node struct {
	t     *testing.T
	repo  *gittest.Repo
	url   string
	reg   string
	ctd   *runtimetest.Daemon
	rt    *runtime.Containerd
	state string
	port  int
}

func (n *node) args() []string {
	return []string{"--repo", n.url, "--node", "press-01", "--labels", "line=a", "--insecure-skip-verify",
		"--containerd-address", n.ctd.Address, "--state-dir", n.state, "--log-level", "debug", "--once"}
}

// commit writes the fleet with workloads (name -> image, env value) and
// commits it.
func (n *node) commit(msg string, workloads map[string][2]string) string {
	n.repo.Write("fleet.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: chaos}\nspec:\n  pollInterval: 1s\n  registries: [{host: %q, plainHTTP: true}]\n", n.reg))
	n.repo.Write("nodes/press-01.yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: press-01}\n")
	var names []string
	for name, w := range workloads {
		names = append(names, name)
		n.repo.Write("workloads/"+name+".yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: %s}\nspec:\n  image: %s\n  args: [\"--listen\", \"127.0.0.1:%d\"]\n  env: {MODEL_LOG_LEVEL: %s}\n  ports: [%d]\n", name, w[0], n.port, w[1], n.port))
	}
	out, _ := gittest.Command(n.repo.Dir, "ls-files", "workloads").Output()
	for _, f := range strings.Fields(string(out)) {
		if _, ok := workloads[strings.TrimSuffix(filepath.Base(f), ".yaml")]; !ok {
			n.repo.Remove(f)
		}
	}
	n.repo.Write("groups/line-a.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [%s]\n", strings.Join(names, ", ")))
	return n.repo.Commit(msg)
}

// killedPass starts fleetd --once and kills it with SIGKILL after delay
// (if it has not finished by then).
func (n *node) killedPass(delay time.Duration) {
	cmd := exec.Command(fleetdBin, n.args()...)
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

// pass runs fleetd --once to the end and returns its output and error.
func (n *node) pass() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, fleetdBin, n.args()...).CombinedOutput()
	return string(out), err
}

// converged reports what is wrong with the node against the head rev and
// workloads: "" when it runs exactly them, the report says applied and
// nothing failed.
func (n *node) converged(rev string, workloads map[string][2]string) string {
	list, err := n.rt.List(context.Background())
	if err != nil {
		return err.Error()
	}
	var problems []string
	seen := map[string]int{}
	for _, in := range list {
		seen[in.Workload]++
		w, ok := workloads[in.Workload]
		switch {
		case !ok:
			problems = append(problems, "orphan "+in.ID)
		case in.State != status.StateRunning || in.Image != w[0] || in.Revision != rev:
			problems = append(problems, fmt.Sprintf("%s: %s %s at %s", in.Workload, in.State, in.Image, in.Revision))
		}
	}
	for name := range workloads {
		switch seen[name] {
		case 0:
			problems = append(problems, "missing "+name)
		case 1:
		default:
			problems = append(problems, fmt.Sprintf("%d containers of %s", seen[name], name))
		}
	}
	out, err := gittest.Command(n.repo.BareDir, "show", "refs/heads/status/press-01:status/press-01.yaml").Output()
	if err != nil {
		return strings.Join(append(problems, "no status report"), "; ")
	}
	st, err := status.Unmarshal(out)
	if err != nil {
		return err.Error()
	}
	if st.Status.AppliedRevision != rev || len(st.Status.Errors) != 0 {
		problems = append(problems, fmt.Sprintf("report: applied %s, errors %v", st.Status.AppliedRevision, st.Status.Errors))
	}
	for _, w := range st.Status.Workloads {
		if w.State == status.StateFailed || strings.Contains(w.Message, "rolled back") {
			problems = append(problems, fmt.Sprintf("report: %s %s %s", w.Name, w.State, w.Message))
		}
	}
	return strings.Join(problems, "; ")
}

// TestKillAnywhere: for each kill point, a change (add, change env, change
// image, remove) is committed, fleetd is killed at a random moment of its
// pass, and the next fleetd must converge in one pass.
func TestKillAnywhere(t *testing.T) {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	rng := rand.New(rand.NewPCG(s, s))

	ctd := runtimetest.StartT(t)
	reg, stop, err := ocitest.StartDockerRegistryProcess(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	v1 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v1.json")
	v2 := ocitest.ModelServerImage(t, reg, "models/defect", "defect-v2.json")
	repo := gittest.NewRepo(t)
	n := &node{t: t, repo: repo, url: gittest.ServeHTTP(t, repo.BareParent, "", "") + "/" + repo.Name, reg: reg, ctd: ctd,
		state: t.TempDir(), port: gittest.FreePort(t)}
	n.rt, err = runtime.New(context.Background(), runtime.Config{Address: ctd.Address, LogDir: filepath.Join(n.state, "logs")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.rt.Close() })
	t.Cleanup(func() { n.rt.Remove(context.Background(), "defect") })

	// The cycle of changes, each from the state the previous one left.
	steps := []struct {
		name      string
		workloads map[string][2]string
	}{
		{"add", map[string][2]string{"defect": {v1, "info"}}},
		{"change env", map[string][2]string{"defect": {v1, "debug"}}},
		{"change image", map[string][2]string{"defect": {v2, "debug"}}},
		{"remove", map[string][2]string{}},
	}
	converged := map[string][2]int{}
	for i := range *points {
		step := steps[i%len(steps)]
		delay := time.Duration(rng.Int64N(int64(maxKillDelay)))
		rev := n.commit(fmt.Sprintf("point %d: %s", i, step.name), step.workloads)
		n.killedPass(delay)
		out, err := n.pass()
		c := converged[step.name]
		c[1]++
		if problem := n.converged(rev, step.workloads); err != nil || problem != "" {
			t.Errorf("kill point %d (%s, killed after %v): pass %v; %s\n%s", i, step.name, delay, err, problem, out)
		} else {
			c[0]++
		}
		converged[step.name] = c
	}
	if *results != "" {
		writeResults(t, *results, s, converged)
	}
}
