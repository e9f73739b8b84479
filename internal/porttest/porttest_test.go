package porttest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ephemeral reads the kernel's ephemeral range as the tests' oracle.
func ephemeral(t *testing.T) (int, int) {
	t.Helper()
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: %q", rangeFile, b)
	}
	return lo, hi
}

// TestPortOutsideEphemeralRangeAndDistinct: ports lie below the kernel's
// ephemeral range, can be listened on, and are never handed out twice
// while reserved.
func TestPortOutsideEphemeralRangeAndDistinct(t *testing.T) {
	lo, _ := ephemeral(t)
	seen := map[int]bool{}
	for range 50 {
		p := Port(t)
		if p < Low || p >= lo {
			t.Fatalf("port %d: want in [%d, %d)", p, Low, lo)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	for p := range seen {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("listen on reserved port %d: %v", p, err)
		}
		l.Close()
	}
}

// TestReservationHoldsAcrossProcesses: while a port is reserved, another
// process cannot take its lock; after release it can.
func TestReservationHoldsAcrossProcesses(t *testing.T) {
	p, release, err := Reserve()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(os.TempDir(), "gitfleet-ports", strconv.Itoa(p))
	other := func() error { return exec.Command("flock", "--nonblock", file, "true").Run() }
	if err := other(); err == nil {
		t.Errorf("another process locked %s while port %d was reserved", file, p)
	}
	release()
	if err := other(); err != nil {
		t.Errorf("another process could not lock %s after release: %v", file, err)
	}
}

// TestListenedPortIsPassedOver: a port something listens on is not
// usable, on 127.0.0.1 or on every address.
func TestListenedPortIsPassedOver(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "0.0.0.0"} {
		p := Port(t)
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		if usable(p) {
			t.Errorf("port %d with a listener on %s: usable", p, addr)
		}
		l.Close()
		if !usable(p) {
			t.Errorf("port %d after its listener closed: not usable", p)
		}
	}
}

// TestRedirectedPortIsPassedOver: a port that a NAT rule redirects (as a
// container's port mapping left behind does) is not usable, though
// nothing listens on it.
func TestRedirectedPortIsPassedOver(t *testing.T) {
	p, elsewhere := Port(t), Port(t)
	other, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(elsewhere))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rule := []string{"OUTPUT", "-t", "nat", "-p", "tcp", "-d", "127.0.0.1", "--dport", strconv.Itoa(p),
		"-m", "comment", "--comment", "porttest " + t.Name(), "-j", "DNAT", "--to-destination", "127.0.0.1:" + strconv.Itoa(elsewhere)}
	if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables: %v\n%s", err, out)
	}
	defer func() {
		if out, err := exec.Command("iptables", append([]string{"-D"}, rule...)...).CombinedOutput(); err != nil {
			t.Errorf("iptables: %v\n%s", err, out)
		}
	}()
	if usable(p) {
		t.Errorf("port %d redirected to %d: usable", p, elsewhere)
	}
}

// TestNoRoomBelowEphemeralRange: a kernel range that starts too low fails
// clearly instead of handing out ephemeral ports.
func TestNoRoomBelowEphemeralRange(t *testing.T) {
	_, _, err := reserveBelow(t.TempDir(), Low+10)
	if err == nil || !strings.Contains(err.Error(), "ip_local_port_range") {
		t.Fatalf("got %v, want an error naming ip_local_port_range", err)
	}
	if got, err := ephemeralStart("32768\t60999\n"); got != 32768 || err != nil {
		t.Errorf("ephemeralStart = %d, %v; want 32768", got, err)
	}
	if _, err := ephemeralStart("garbage"); err == nil {
		t.Error("ephemeralStart(garbage): no error")
	}
}
