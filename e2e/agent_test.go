package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/status"
)

// agent runs fleetd for one node against one containerd.
type agent struct {
	t        *testing.T
	args     []string
	stateDir string
	repo     *gittest.Repo
	node     string
	rt       *runtime.Containerd
}

// newAgent prepares fleetd for node. Without extra flags it runs with
// --insecure-skip-verify; pass --trust-dir to verify signatures.
func newAgent(t *testing.T, repo *gittest.Repo, url, containerdAddr, node, labels string, extra ...string) *agent {
	t.Helper()
	state := t.TempDir()
	namespace := ""
	for i, a := range extra {
		if a == "--namespace" && i+1 < len(extra) {
			namespace = extra[i+1]
		}
	}
	rt, err := runtime.New(context.Background(), runtime.Config{Address: containerdAddr, Namespace: namespace, LogDir: filepath.Join(state, "logs"), RunDir: filepath.Join(state, "run")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	t.Cleanup(func() { removeWorkloads(t, rt) })
	if len(extra) == 0 {
		extra = []string{"--insecure-skip-verify"}
	}
	return &agent{
		t: t, repo: repo, node: node, stateDir: state, rt: rt,
		args: append([]string{"--repo", url, "--node", node, "--labels", labels,
			"--containerd-address", containerdAddr, "--state-dir", state, "--log-level", "debug", "--listen", "127.0.0.1:0"}, extra...),
	}
}

// once runs one pass and returns its error (nil when fleetd exited 0) and output.
func (a *agent) once() (string, error) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fleetdBin, append(a.args, "--once")...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// statusKey is the node's status key line for nodes/<node>.yaml
// spec.statusKey, as an operator gets it before the first start: fleetd
// --print-status-key with the agent's state dir (it makes the key).
func (a *agent) statusKey() string {
	a.t.Helper()
	return printStatusKey(a.t, a.stateDir, a.node)
}

// mustOnce runs one pass that must succeed.
func (a *agent) mustOnce() {
	a.t.Helper()
	if out, err := a.once(); err != nil {
		a.t.Fatalf("fleetd --once: %v\n%s", err, out)
	}
}

// daemon is fleetd running its loop.
type daemon struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.Write(p)
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

func (a *agent) start(interval string) *daemon {
	a.t.Helper()
	return startDaemon(a.t, exec.Command(fleetdBin, append(a.args, "--interval", interval)...), false)
}

// startDaemon starts cmd, a long-running fleetd, collecting its output. It
// is killed at the end of the test; with logOutput, what it wrote is
// logged then if the test failed (or GITFLEET_E2E_LOG is set).
func startDaemon(t *testing.T, cmd *exec.Cmd, logOutput bool) *daemon {
	t.Helper()
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
		if logOutput && (t.Failed() || os.Getenv("GITFLEET_E2E_LOG") != "") {
			t.Logf("fleetd:\n%s", d.output())
		}
	})
	return d
}

// waitPasses waits until the daemon has logged n passes.
func (d *daemon) waitPasses(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if strings.Count(d.output(), "msg=pass") >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("fleetd did not log %d passes:\n%s", n, d.output())
}

// instances returns the containers fleetd owns, by workload.
func (a *agent) instances() map[string]status.Instance {
	a.t.Helper()
	list, err := a.rt.List(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	m := map[string]status.Instance{}
	for _, in := range list {
		if _, dup := m[in.Workload]; dup {
			a.t.Errorf("two containers for workload %s", in.Workload)
		}
		m[in.Workload] = in
	}
	return m
}

// running returns the workload's container, which must be running.
func (a *agent) running(workload string) status.Instance {
	a.t.Helper()
	in, ok := a.instances()[workload]
	if !ok || in.State != status.StateRunning {
		a.t.Fatalf("workload %s = %+v (found %v); want running", workload, in, ok)
	}
	return in
}

// report reads the node's status report from its ref on the git server.
func (a *agent) report() *status.NodeStatus {
	a.t.Helper()
	ref := "refs/heads/status/" + a.node
	out, err := gittest.Command(a.repo.BareDir, "show", ref+":status/"+a.node+".yaml").Output()
	if err != nil {
		a.t.Fatalf("read %s: %v", ref, err)
	}
	st, err := status.Unmarshal(out)
	if err != nil {
		a.t.Fatalf("parse %s: %v\n%s", ref, err, out)
	}
	return st
}

// statusCommits counts the commits on the agent's status ref.
func (a *agent) statusCommits() int {
	a.t.Helper()
	out, err := gittest.Command(a.repo.BareDir, "rev-list", "--count", "refs/heads/status/"+a.node).Output()
	if err != nil {
		a.t.Fatalf("count the commits of %s's status ref: %v", a.node, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		a.t.Fatal(err)
	}
	return n
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func signal(t *testing.T, d *daemon, sig syscall.Signal) error {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("fleetd did not exit")
		return nil
	}
}

// removeWorkloads removes what rt's agent runs, before containerd stops,
// so that the workloads' networks (addresses, port rules on the host) and
// mounts are undone the agent's way.
func removeWorkloads(t *testing.T, rt *runtime.Containerd) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ins, err := rt.List(ctx)
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, in := range ins {
		if err := rt.Remove(ctx, in.Workload); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}
