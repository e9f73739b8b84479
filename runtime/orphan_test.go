package runtime

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// greetingListener listens on 127.0.0.1:port and writes "host" to every
// connection, so a client can tell it reached this listener.
func greetingListener(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:%d: %v", port, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host"))
			c.Close()
		}
	}()
}

// reachesHost reports whether a connection to 127.0.0.1:port reaches the
// greetingListener there (and not a rule's dead end: refused, unreachable
// or silent).
func reachesHost(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 10*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b) == "host"
}

// An agent that is gone with its run directory leaves its isolated
// networks' port rules behind, and they take the ports from every host
// listener; the next agent on the host to set up a network undoes them,
// while a live agent's network is left alone and its ports are refused.
func TestNetworkOfGoneAgentSwept(t *testing.T) {
	// The agent that will be gone, with two isolated workloads.
	d, err := runtimetest.Start(runtimetest.Options{})
	if err != nil {
		t.Fatalf("runtimetest: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			d.Stop()
		}
	})
	dead := &env{d: d, logDir: t.TempDir(), runDir: t.TempDir()}
	t.Cleanup(func() { unmountBelow(t, dead.runDir) })
	dead.c = dead.connect(t)
	dead.pull(t)
	gone, kept := desired("gone", porttest.Port(t), nil), desired("kept", porttest.Port(t), nil)
	dead.run(t, gone, "rev1")
	dead.run(t, kept, "rev1")
	ids := map[string]string{}
	for _, in := range dead.list(t) {
		ids[in.Workload] = in.ID
	}
	for _, w := range []spec.Desired{gone, kept} {
		if code, _ := get(t, w.Spec.Ports[0], "/env"); code != 200 {
			t.Fatalf("workload %s: %d", w.Name, code)
		}
	}
	goneNS, keptNS := dead.c.netnsPath(ids["gone"]), dead.c.netnsPath(ids["kept"])
	deadInst := dead.c.inst

	// The agent and its containerd go (tasks killed, socket removed) as
	// a killed test's do. The namespace of "gone" is unmounted and
	// removed with its state, as a deleted test directory's is; that of
	// "kept" stays bound in the run directory.
	dead.c.Close()
	stopped = true
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(goneNS, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{goneNS, goneNS + ".json"} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if !isNetns(keptNS) {
		t.Fatalf("%s: not a network namespace any more", keptNS)
	}

	// Host listeners on the two ports bind (a bind test cannot see the
	// rules) but connections never reach them.
	for _, w := range []spec.Desired{gone, kept} {
		greetingListener(t, w.Spec.Ports[0])
		if reachesHost(w.Spec.Ports[0]) {
			t.Fatalf("port %d of the gone agent's %s reaches the host listener before any sweep: the test cannot tell", w.Spec.Ports[0], w.Name)
		}
	}

	// Another agent sets up an isolated network: the rules are undone.
	live := setup(t)
	live.pull(t)
	liveD := desired("live", porttest.Port(t), nil)
	live.run(t, liveD, "rev1")
	for _, w := range []spec.Desired{gone, kept} {
		if !reachesHost(w.Spec.Ports[0]) {
			t.Errorf("port %d of the gone agent's %s: the host listener is still not reached", w.Spec.Ports[0], w.Name)
		}
	}
	cached, err := cachedNetworks(cniCacheDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cached {
		if strings.HasPrefix(e.ContainerID, deadInst+"-") {
			t.Errorf("CNI cache entry %s of the gone agent remains", e.file)
		}
	}
	if _, err := os.Lstat(keptNS); !os.IsNotExist(err) {
		t.Errorf("namespace %s of the gone agent: %v, want removed", keptNS, err)
	}
	// Nor any rule: the masquerade rule and chain "bridge" made for each
	// container go too, also for "gone", whose namespace the plugin could
	// not enter to find them.
	for _, l := range natRules(t) {
		if strings.Contains(l, `id: \"`+deadInst+"-") {
			t.Errorf("a NAT rule of the gone agent remains: %s", l)
		}
	}

	// A third agent sets up its network: the live agent's is left alone,
	// and its port is refused as mapped.
	other := setup(t)
	other.pull(t)
	other.run(t, desired("other", porttest.Port(t), nil), "rev1")
	if code, _ := get(t, liveD.Spec.Ports[0], "/env"); code != 200 {
		t.Errorf("live agent's workload after another agent's sweep: %d", code)
	}
	err = other.c.Run(t.Context(), desired("thief", liveD.Spec.Ports[0], nil), "rev1")
	var pe *PortError
	liveID := live.c.cniID(live.only(t, liveD).ID)
	if !errors.As(err, &pe) || pe.Port != liveD.Spec.Ports[0] || !strings.Contains(err.Error(), liveID) {
		t.Errorf("Run on the live agent's mapped port: %v, want a *PortError naming %s", err, liveID)
	}
}

// instanceGone judges a namespace's owner by its run directory only when
// the layout is an agent's, and never by an address being written.
func TestInstanceGone(t *testing.T) {
	root := t.TempDir()
	inst := filepath.Join(root, "abcd1234")
	if err := os.MkdirAll(filepath.Join(inst, "netns"), 0o700); err != nil {
		t.Fatal(err)
	}
	sb := filepath.Join(inst, "netns", "web-1")
	addr := filepath.Join(inst, "address")
	sock := filepath.Join(root, "c.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range []struct {
		name, address string // "-": no address file
		id            string
		want          bool
	}{
		{"address file removed", "-", "abcd1234-web-1", true},
		{"address being written", "", "abcd1234-web-1", false},
		{"containerd serving", sock, "abcd1234-web-1", false},
		{"containerd socket gone", filepath.Join(root, "gone.sock"), "abcd1234-web-1", true},
		{"not the agent's layout", "-", "ffff0000-web-1", false},
	} {
		os.Remove(addr)
		if c.address != "-" {
			if err := os.WriteFile(addr, []byte(c.address), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if got := instanceGone(c.id, sb); got != c.want {
			t.Errorf("%s: instanceGone = %v, want %v", c.name, got, c.want)
		}
	}
}

// netnsInUse sees a namespace a process lives in, and an empty one.
func TestNetnsInUse(t *testing.T) {
	if !netnsInUse("/proc/self/ns/net") {
		t.Error("the test's own namespace: not in use")
	}
	path := filepath.Join(t.TempDir(), "ns")
	if err := newNetns(path); err != nil {
		t.Fatal(err)
	}
	defer removeNetns(path)
	if netnsInUse(path) {
		t.Errorf("a new namespace nobody entered: in use")
	}
}

// A network whose state file was lost is still undone in full when its
// container is removed: the plugins' cache has its ports, and without
// them the port's rule would stay behind with no record of it.
func TestNetworkTeardownWithoutStateFile(t *testing.T) {
	e := setup(t)
	e.pull(t)
	d := desired("lost", porttest.Port(t), nil)
	e.run(t, d, "rev1")
	port := d.Spec.Ports[0]
	if code, _ := get(t, port, "/env"); code != 200 {
		t.Fatalf("workload: %d", code)
	}
	if err := os.Remove(e.c.statePath(e.only(t, d).ID)); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Remove(t.Context(), d.Name); err != nil {
		t.Fatal(err)
	}
	greetingListener(t, port)
	if !reachesHost(port) {
		t.Errorf("port %d after the removal: the host listener is not reached", port)
	}
}
