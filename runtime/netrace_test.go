package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/porttest"
)

// A pass removes a crashed container while the Supervisor restarts it:
// the restart found the container, then the remove runs. The restart must
// not set the container's network up again after the remove undid it and
// deleted the container: nothing would ever undo that network (the
// container is gone, and once the agent stops no sweep runs), its
// namespace stays mounted in the run directory and its port's DNAT rule
// sends every local connection to the port to a dead address.
func TestRemoveRacingARestartLeavesNoNetwork(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	d := desired("netrace", port, nil)
	e.run(t, d, "rev1")
	ctx := e.c.ns(t.Context())
	ctrs, err := e.c.containersOf(ctx, d.Name)
	if err != nil || len(ctrs) != 1 {
		t.Fatalf("containers of %s: %v, %v", d.Name, ctrs, err)
	}
	id := ctrs[0].ID()
	// The task crashed and is gone: the Supervisor is to restart it.
	if err := e.c.stopProcess(ctx, ctrs[0]); err != nil {
		t.Fatal(err)
	}
	e.c.setStopping(id, false)

	removed := make(chan error, 1)
	e.c.restartLoaded = func(string) {
		// The restart found the container: now the pass removes it.
		go func() { removed <- e.c.Remove(ctx, d.Name) }()
		waitFor(t, "the remove to end, or to wait for the restart", func() bool {
			select {
			case err := <-removed:
				removed <- err
				return true
			default:
				return e.c.ctrLocks.busy(id) > 1
			}
		})
	}
	b := &containerdBackend{c: e.c}
	started, _, err := b.restart(t.Context(), id, 1, nil)
	t.Logf("restart: started %v, err %v", started, err)
	if err := <-removed; err != nil {
		t.Fatalf("remove: %v", err)
	}
	e.c.restartLoaded = nil

	if _, err := e.c.client.LoadContainer(ctx, id); err == nil {
		t.Fatalf("container %s still exists after Remove", id)
	}
	assertNoNetwork(t, e.c, id, port)
}

// assertNoNetwork fails unless nothing is left of container id's network:
// no namespace or state file in the run directory, no CNI cache entry, no
// DNAT rule for port.
func assertNoNetwork(t *testing.T, c *Containerd, id string, port int) {
	t.Helper()
	if _, err := os.Lstat(c.netnsPath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network namespace %s remains (mounted: %v)", c.netnsPath(id), isNetns(c.netnsPath(id)))
	}
	if _, err := os.Lstat(c.statePath(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network state %s remains", c.statePath(id))
	}
	cached, err := cachedNetworks(cniCacheDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cached {
		if e.ContainerID == c.cniID(id) {
			t.Errorf("CNI cache entry %s remains", e.file)
		}
	}
	for _, l := range natRules(t) {
		if strings.Contains(l, "--dport "+strconv.Itoa(port)+" ") || strings.Contains(l, "--dports "+strconv.Itoa(port)+" ") {
			t.Errorf("port %d still has a NAT rule: %s", port, l)
		}
		if strings.Contains(l, `id: \"`+c.cniID(id)+`\"`) {
			t.Errorf("container %s still has a NAT rule: %s", id, l)
		}
	}
}

// natRules are the host's nat table's rules, as iptables -S prints them.
func natRules(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables: %v: %s", err, out)
	}
	return strings.Split(string(out), "\n")
}

// An agent that stops while it sets up a container's network (its
// context ends with the plugins under way: the Supervisor restarting a
// crashing task as the agent exits) undoes what it set up: the namespace
// would stay mounted in the run directory, where nothing undoes it while
// the container lives on without a task.
func TestNetworkSetupCutByTheAgentsStopLeavesNothing(t *testing.T) {
	e := setup(t)
	port := porttest.Port(t)
	id := "cut-000000000000-000000"
	ctx, cancel := context.WithCancel(e.c.ns(t.Context()))
	cancel()
	if err := e.c.ensureNetwork(ctx, "cut", id, []int{port}); err == nil {
		t.Fatal("a network set up with an ended context: want the setup's error")
	}
	assertNoNetwork(t, e.c, id, port)
}
