package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// Capability numbers from linux/capability.h.
const (
	capChown          = 0
	capNetBindService = 10
	capNetRaw         = 13
	capSysChroot      = 18
	capSysAdmin       = 21
	capMknod          = 27
)

// probeResults runs the workload's probes and returns them by name.
func probeResults(t *testing.T, port int) map[string]string {
	t.Helper()
	code, body := get(t, port, "/probe")
	if code != 200 {
		t.Fatalf("GET /probe: %d %s", code, body)
	}
	return parseProbes(body)
}

func parseProbes(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.Contains(k, " ") {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// capSet reads a /proc/self/status capability mask.
func capSet(t *testing.T, hex string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", hex, err)
	}
	return v
}

func has(set uint64, c int) bool { return set&(1<<c) != 0 }

// By default: seccomp filtering, no-new-privileges, no capability to mount
// or to make namespaces, none of the capabilities Podman leaves out; the
// root filesystem stays writable and the image's user (root) applies.
func TestSandboxDefaults(t *testing.T) {
	e := setup(t)
	e.pull(t)
	port := porttest.Port(t)
	d := desired("sandboxed", port, nil)
	e.run(t, d, "rev1")
	p := probeResults(t, port)
	for _, name := range []string{"unshare-mount", "unshare-user", "mount"} {
		if !strings.Contains(p[name], "operation not permitted") {
			t.Errorf("%s inside the sandbox: %q, want operation not permitted", name, p[name])
		}
	}
	if p["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs = %q, want 1", p["NoNewPrivs"])
	}
	if p["Seccomp"] != "2" {
		t.Errorf("Seccomp = %q, want 2 (filter)", p["Seccomp"])
	}
	eff := capSet(t, p["CapEff"])
	for _, c := range []int{capChown, capNetBindService, capSysChroot} {
		if !has(eff, c) {
			t.Errorf("CapEff %x lacks default capability %d", eff, c)
		}
	}
	for _, c := range []int{capNetRaw, capMknod, capSysAdmin} {
		if has(eff, c) || has(capSet(t, p["CapBnd"]), c) {
			t.Errorf("CapEff %s / CapBnd %s hold capability %d", p["CapEff"], p["CapBnd"], c)
		}
	}
	if p["write-root"] != "ok" || p["uid"] != "0" {
		t.Errorf("write-root %q uid %q, want ok and 0 (the image's user)", p["write-root"], p["uid"])
	}
	// containerd's masked paths: what the host shows there, the container
	// reads as empty.
	masked := 0
	for _, f := range []string{"/proc/timer_list", "/proc/keys", "/proc/kcore", "/proc/sched_debug"} {
		if b, err := os.ReadFile(f); err != nil || len(b) == 0 {
			continue
		}
		masked++
		if code, body := get(t, port, "/read?path="+f); code != 200 || body != "" {
			t.Errorf("%s in the container: %d, %d bytes, want it masked (empty)", f, code, len(body))
		}
	}
	if masked == 0 {
		t.Error("none of the masked /proc files has content on this host: nothing to compare")
	}
}

// readOnlyRootFilesystem, user by id and by name from the image, and
// capabilities dropped and added.
func TestSandboxUserReadOnlyRootCapabilities(t *testing.T) {
	e := setup(t)
	e.pull(t)
	cases := []struct {
		name   string
		change func(*spec.WorkloadSpec)
		check  func(t *testing.T, p map[string]string)
	}{
		{"read-only root", func(s *spec.WorkloadSpec) { s.ReadOnlyRootFilesystem = true }, func(t *testing.T, p map[string]string) {
			if !strings.Contains(p["write-root"], "read-only file system") {
				t.Errorf("write-root = %q, want read-only file system", p["write-root"])
			}
		}},
		{"uid and gid", func(s *spec.WorkloadSpec) { s.User = "1000:1001" }, func(t *testing.T, p map[string]string) {
			if p["uid"] != "1000" || p["gid"] != "1001" {
				t.Errorf("uid %q gid %q, want 1000 1001", p["uid"], p["gid"])
			}
			if !strings.Contains(p["write-root"], "permission denied") {
				t.Errorf("write-root as uid 1000 = %q, want permission denied", p["write-root"])
			}
		}},
		{"name from the image", func(s *spec.WorkloadSpec) { s.User = "model" }, func(t *testing.T, p map[string]string) {
			if p["uid"] != "4242" || p["gid"] != "4243" {
				t.Errorf("uid %q gid %q, want 4242 4243 (the image's user model)", p["uid"], p["gid"])
			}
		}},
		{"drop all and add one", func(s *spec.WorkloadSpec) {
			s.Capabilities = spec.Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_RAW"}}
		}, func(t *testing.T, p map[string]string) {
			if eff := capSet(t, p["CapEff"]); eff != 1<<capNetRaw {
				t.Errorf("CapEff = %x, want only NET_RAW (%x)", eff, 1<<capNetRaw)
			}
		}},
		{"drop one", func(s *spec.WorkloadSpec) { s.Capabilities = spec.Capabilities{Drop: []string{"CHOWN"}} }, func(t *testing.T, p map[string]string) {
			if eff := capSet(t, p["CapEff"]); has(eff, capChown) || !has(eff, capSysChroot) {
				t.Errorf("CapEff = %x, want the default set without CHOWN", eff)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port := porttest.Port(t)
			d := desired("sandbox-"+strings.ReplaceAll(c.name, " ", "-"), port, nil)
			c.change(&d.Spec)
			d = withHash(d.Name, d.Spec)
			e.run(t, d, "rev1")
			c.check(t, probeResults(t, port))
			if err := e.c.Remove(t.Context(), d.Name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// hostAddr is an IPv4 address of the host that is neither loopback nor on
// the workloads' bridge.
func hostAddr(t *testing.T) string {
	t.Helper()
	_, bridge, _ := net.ParseCIDR(DefaultSubnet)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ip, _, err := net.ParseCIDR(a.String())
		if err == nil && ip.To4() != nil && !ip.IsLoopback() && !bridge.Contains(ip) {
			return ip.String()
		}
	}
	t.Fatal("no non-loopback IPv4 address on this host")
	return ""
}

// hostOnlyListener listens on the host's loopback only and answers
// "host-secret" to whoever connects.
func hostOnlyListener(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "host-secret")
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// reachable reports whether a TCP connection to addr opens.
func reachable(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// An isolated workload is reached through its mapped port, on loopback and
// on the host's other addresses, and through nothing else; from inside it
// reaches no listener of the host's loopback. With host networking the same
// listener is reached, which shows the probe can tell.
func TestNetworkIsolatedAndHost(t *testing.T) {
	e := setup(t)
	e.pull(t)
	secret := hostOnlyListener(t)
	addr := hostAddr(t)

	port, undeclared := porttest.Port(t), porttest.Port(t)
	d := desired("isolated", port, nil)
	d.Spec.Args = append(d.Spec.Args, "--extra-port", strconv.Itoa(undeclared))
	d = withHash(d.Name, d.Spec)
	e.run(t, d, "rev1")
	if code, _ := get(t, port, "/env"); code != 200 {
		t.Fatalf("mapped port on loopback: %d", code)
	}
	if !reachable(net.JoinHostPort(addr, strconv.Itoa(port))) {
		t.Errorf("mapped port %d not reachable on the host's address %s", port, addr)
	}
	for _, a := range []string{"127.0.0.1", addr} {
		if reachable(net.JoinHostPort(a, strconv.Itoa(undeclared))) {
			t.Errorf("undeclared port %d reachable on %s", undeclared, a)
		}
	}
	p := probeResults(t, port)
	if ifs := strings.Split(p["interfaces"], ","); len(ifs) != 2 || ifs[0] != "lo" || !strings.HasPrefix(ifs[1], "eth") {
		t.Errorf("interfaces = %q, want lo and one eth", p["interfaces"])
	}
	gateway := strings.TrimSuffix(DefaultSubnet, "0/24") + "1"
	for _, target := range []string{"127.0.0.1", "localhost", gateway} {
		_, body := get(t, port, "/dial?addr="+net.JoinHostPort(target, strconv.Itoa(secret)))
		if strings.TrimSpace(body) == "ok" {
			t.Errorf("isolated workload reached the host's loopback listener through %s", target)
		}
	}

	hostPort := porttest.Port(t)
	h := desired("on-host", hostPort, nil)
	h.Spec.Network = spec.NetworkHost
	h = withHash(h.Name, h.Spec)
	e.run(t, h, "rev1")
	if _, body := get(t, hostPort, "/dial?addr=127.0.0.1:"+strconv.Itoa(secret)); strings.TrimSpace(body) != "ok" {
		t.Errorf("host-network workload dialing the host's loopback listener: %q, want ok", body)
	}
}

// network none: loopback only. Nobody can reach it, so it prints its probes
// and exits.
func TestNetworkNone(t *testing.T) {
	e := setup(t)
	e.pull(t)
	d := withHash("offline", spec.WorkloadSpec{Image: echo.ref, Args: []string{"--probe"}, Network: spec.NetworkNone, Restart: spec.RestartNever})
	e.run(t, d, "rev1")
	waitFor(t, "the probe to exit", func() bool { return e.only(t, d).State == status.StateStopped })
	// The shim copies the output to the log on its own time, also after
	// the exit: wait for the probe's last line.
	var b []byte
	waitFor(t, "the probes in the log", func() bool {
		b, _ = os.ReadFile(e.c.Logs(d.Name))
		return strings.Contains(string(b), "interfaces:")
	})
	if p := parseProbes(string(b)); p["interfaces"] != "lo" {
		t.Errorf("interfaces = %q, want only lo\n%s", p["interfaces"], b)
	}
}

// A declared port that a host process listens on, or that another
// workload's isolated container maps, refuses the start.
func TestNetworkPortTaken(t *testing.T) {
	e := setup(t)
	e.pull(t)
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	var pe *PortError
	if err := e.c.Run(t.Context(), desired("first", busy, nil), "rev1"); !errors.As(err, &pe) || pe.Port != busy {
		t.Fatalf("Run on a port the host uses: %v, want a *PortError for %d", err, busy)
	} else if fault.ClassOf(err) != fault.Transient {
		t.Errorf("class %v, want transient: the port may be freed", fault.ClassOf(err))
	}
	if ins := e.list(t); len(ins) != 0 {
		t.Errorf("after the refusal: %+v, want nothing", ins)
	}

	port := porttest.Port(t)
	first := desired("first", port, nil)
	e.run(t, first, "rev1")
	id := e.only(t, first).ID
	err = e.c.Run(t.Context(), desired("second", port, nil), "rev1")
	if !errors.As(err, &pe) || pe.Port != port || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "second") {
		t.Fatalf("Run of a second workload on the same port: %v, want a *PortError naming %s", err, id)
	}
	if code, _ := get(t, port, "/env"); code != 200 {
		t.Errorf("first workload after the refusal: %d", code)
	}
}
