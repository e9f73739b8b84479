package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/internal/proxytest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/status"
)

// nodeName is the one node of the fleet under test.
const nodeName = "press-01"

// node is one node of a fleet on real parts: a git server (git
// http-backend) and Debian's docker-registry, each behind a proxy (proxytest), a
// private containerd with runc, and fleetd built from this tree. Besides
// the workloads a test changes, the fleet always runs "steady", which no
// change touches: its container must never be restarted.
type node struct {
	t        *testing.T
	repo     *gittest.Repo
	git      *proxytest.Proxy
	url      string
	registry string // the real registry, for pushes
	regProxy *proxytest.Proxy
	reg      string // the registry as the fleet names it: the proxy
	ctd      *runtimetest.Daemon
	rt       *runtime.Containerd
	state    string
	port     int      // the changing workloads' port
	model    v1.Image // the model server, for fresh images
	steady   struct {
		image string
		port  int
		id    string
		pid   uint32
	}
}

// newNode starts the parts. stateDir is fleetd's --state-dir ("" for a
// temporary directory).
func newNode(t *testing.T, stateDir string) *node {
	t.Helper()
	ctd := runtimetest.StartT(t)
	registry, stop, err := ocitest.StartDockerRegistryProcess(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	repo := gittest.NewRepo(t)
	git := proxytest.Start(t, strings.TrimPrefix(gittest.ServeHTTP(t, repo.BareParent, "", ""), "http://"))
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	n := &node{t: t, repo: repo, git: git, url: "http://" + git.Addr() + "/" + repo.Name, registry: registry, ctd: ctd,
		state: stateDir, port: porttest.Port(t)}
	n.regProxy = proxytest.Start(t, registry)
	n.reg = n.regProxy.Addr()
	n.rt, err = runtime.New(context.Background(), runtime.Config{Address: ctd.Address, LogDir: filepath.Join(t.TempDir(), "logs"),
		RunDir: filepath.Join(n.state, "run")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.rt.Close() })
	t.Cleanup(func() {
		list, _ := n.rt.List(context.Background())
		for _, in := range list {
			n.rt.Remove(context.Background(), in.Workload)
		}
	})
	n.steady.image = n.modelImage("models/steady", "defect-v1.json")
	n.steady.port = porttest.Port(t)
	return n
}

// modelImage pushes the model server with weightsFile to the registry and
// returns its reference through the proxy.
func (n *node) modelImage(repo, weightsFile string) string {
	return n.viaProxy(ocitest.ModelServerImage(n.t, n.registry, repo, weightsFile))
}

// viaProxy names a pushed image at the registry's proxy.
func (n *node) viaProxy(ref string) string {
	return n.reg + strings.TrimPrefix(ref, n.registry)
}

func (n *node) args(extra ...string) []string {
	return append([]string{"--repo", n.url, "--node", nodeName, "--labels", "line=a", "--insecure-skip-verify",
		"--containerd-address", n.ctd.Address, "--state-dir", n.state, "--log-level", "debug", "--listen", ""}, extra...)
}

// workloads are the changing workloads of a revision: name -> image and
// the value of its MODEL_LOG_LEVEL.
type workloads map[string][2]string

// commit writes the fleet with ws (and steady) and commits it.
func (n *node) commit(msg string, ws workloads) string {
	n.repo.Write("fleet.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Fleet\nmetadata: {name: chaos}\nspec:\n  pollInterval: 1s\n  registries: [{host: %q, plainHTTP: true}]\n", n.reg))
	n.repo.Write("nodes/"+nodeName+".yaml", "apiVersion: gitfleet.dev/v1alpha1\nkind: Node\nmetadata: {name: "+nodeName+"}\n")
	all := n.all(ws)
	var names []string
	for name, w := range all {
		names = append(names, name)
		port := n.port
		if name == "steady" {
			port = n.steady.port
		}
		n.repo.Write("workloads/"+name+".yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Workload\nmetadata: {name: %s}\nspec:\n  image: %s\n  args: [\"--listen\", \"127.0.0.1:%d\"]\n  env: {MODEL_LOG_LEVEL: %s}\n  ports: [%d]\n", name, w[0], port, w[1], port))
	}
	sort.Strings(names)
	out, _ := gittest.Command(n.repo.Dir, "ls-files", "workloads").Output()
	for _, f := range strings.Fields(string(out)) {
		if _, ok := all[strings.TrimSuffix(filepath.Base(f), ".yaml")]; !ok {
			n.repo.Remove(f)
		}
	}
	n.repo.Write("groups/line-a.yaml", fmt.Sprintf("apiVersion: gitfleet.dev/v1alpha1\nkind: Group\nmetadata: {name: line-a}\nspec:\n  selector: {matchLabels: {line: a}}\n  workloads: [%s]\n", strings.Join(names, ", ")))
	return n.repo.Commit(msg)
}

// all is ws with steady.
func (n *node) all(ws workloads) workloads {
	all := workloads{"steady": {n.steady.image, "info"}}
	for k, v := range ws {
		all[k] = v
	}
	return all
}

// start starts fleetd with args.
func (n *node) start(args []string) (*exec.Cmd, *lockedBuffer) {
	out := &lockedBuffer{}
	cmd := exec.Command(fleetdBin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	return cmd, out
}

// pass runs fleetd --once to the end and returns its output and error.
func (n *node) pass() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, fleetdBin, n.args("--once")...).CombinedOutput()
	return string(out), err
}

// check is what is wrong with the node against a revision.
type check struct {
	orphans, duplicates, missing, wrong int
	// failed counts good specs marked failed: a workload the report says
	// failed or rolled back, or the agent's state file keeps as failed.
	failed   int
	problems []string
}

func (c *check) add(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c check) String() string { return strings.Join(c.problems, "; ") }

// ok reports whether the node converged.
func (c check) ok() bool { return len(c.problems) == 0 }

// converged checks the node against the head rev and its workloads ws
// (steady included): exactly them run, the report says applied with no
// error, and no spec is marked failed.
func (n *node) converged(rev string, ws workloads) check {
	var c check
	all := n.all(ws)
	list, err := n.rt.List(context.Background())
	if err != nil {
		c.add("list: %v", err)
		return c
	}
	seen := map[string]int{}
	for _, in := range list {
		seen[in.Workload]++
		w, ok := all[in.Workload]
		switch {
		case !ok:
			c.orphans++
			c.add("orphan %s", in.ID)
		case in.State != status.StateRunning || in.Image != w[0] || (in.Revision != rev && in.Workload != "steady"):
			// steady keeps the revision it was started at: no change
			// touches it.
			c.wrong++
			c.add("%s: %s %s at %s", in.Workload, in.State, in.Image, in.Revision)
		}
	}
	for name := range all {
		switch seen[name] {
		case 0:
			c.missing++
			c.add("missing %s", name)
		case 1:
		default:
			c.duplicates += seen[name] - 1
			c.add("%d containers of %s", seen[name], name)
		}
	}
	out, err := gittest.Command(n.repo.BareDir, "show", "refs/heads/status/"+nodeName+":status/"+nodeName+".yaml").Output()
	if err != nil {
		c.add("no status report")
		return c
	}
	st, err := status.Unmarshal(out)
	if err != nil {
		c.add("status report: %v", err)
		return c
	}
	if st.Status.AppliedRevision != rev || len(st.Status.Errors) != 0 {
		c.add("report: applied %s, errors %v", st.Status.AppliedRevision, st.Status.Errors)
	}
	for _, w := range st.Status.Workloads {
		if w.State == status.StateFailed || strings.Contains(w.Message, "rolled back") {
			c.failed++
			c.add("report: %s %s %s", w.Name, w.State, w.Message)
		}
	}
	if b, err := os.ReadFile(filepath.Join(n.state, "state.json")); err == nil && strings.Contains(string(b), `"failed"`) {
		c.failed++
		c.add("state.json keeps a failed spec: %s", b)
	}
	return c
}

// startSteady commits the fleet with steady alone, checks that one
// `fleetd --once` pass converges it, and records steady's container for
// steadyRestarted: the points of a test start from there.
func (n *node) startSteady() {
	n.t.Helper()
	if passes, c, out := n.settle(n.commit("steady", workloads{}), workloads{}); passes != 1 {
		n.t.Fatalf("first pass: %s\n%s", c, out)
	}
	n.steadyRestarted()
}

// steadyRestarted reports whether steady's container or process changed
// since the last call (the first call records it).
func (n *node) steadyRestarted() bool {
	list, err := n.rt.List(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	for _, in := range list {
		if in.Workload != "steady" || in.State != status.StateRunning {
			continue
		}
		changed := n.steady.id != "" && (in.ID != n.steady.id || in.PID != n.steady.pid)
		n.steady.id, n.steady.pid = in.ID, in.PID
		return changed
	}
	n.steady.id, n.steady.pid = "", 0
	return true
}

// statusHead is the node's status ref ("" before the first report).
func (n *node) statusHead() string {
	out, err := gittest.Command(n.repo.BareDir, "rev-parse", "-q", "--verify", "refs/heads/status/"+nodeName).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// statusCommits returns the subjects of the status commits made since
// the status ref was at since, oldest first.
func (n *node) statusCommits(since string) []string {
	span := "refs/heads/status/" + nodeName
	if since != "" {
		span = since + ".." + span
	}
	out, err := gittest.Command(n.repo.BareDir, "log", "--reverse", "--format=%s", span).Output()
	if err != nil {
		n.t.Fatalf("status log: %v", err)
	}
	var subjects []string
	for _, s := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if s != "" {
			subjects = append(subjects, s)
		}
	}
	return subjects
}

// perClass counts the subjects that name each outage class (a commit at
// an outage's start says "retrying: …", at its end "retrying ended …").
func perClass(subjects []string) map[string]int {
	m := map[string]int{}
	for _, s := range subjects {
		for _, class := range []string{"retrying", "waiting"} {
			if strings.Contains(s, class) {
				m[class]++
			}
		}
	}
	return m
}
