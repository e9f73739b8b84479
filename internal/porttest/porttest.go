// Package porttest hands tests the TCP ports they give to servers they
// start (git daemon, sshd, nginx) and to containers' host-port mappings,
// so that no other listener on the host is given the same port meanwhile.
//
// The usual "listen on 127.0.0.1:0, close, return the port" is not enough
// here: that port lies in the kernel's ephemeral range, which the kernel
// hands to every `listen :0` server (httptest, proxies, registries) of
// every test process `go test ./...` runs at once; and a workload's
// isolated network maps its declared port with a DNAT rule that silently
// takes the port from whatever listens there. So a port from Port or
// Reserve
//
//   - lies below the kernel's ephemeral range
//     (/proc/sys/net/ipv4/ip_local_port_range), which no `listen :0` and no
//     outgoing connection is ever given;
//   - is reserved across the host's test processes by an flock'd file
//     <os.TempDir()>/gitfleet-ports/<port>, held until the test's cleanup
//     (or the release function), and dropped by the kernel if the process
//     dies;
//   - was free on 0.0.0.0 and 127.0.0.1, and a connection to 127.0.0.1 on
//     it reached the probing listener: a port still redirected by a rule
//     that a killed test left behind is passed over.
package porttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Low is the lowest port handed out: well above the ports system services
// use.
const Low = 10000

// minPorts is the fewest ports the range below the ephemeral one must
// offer; fewer would make the tests of one run fight over them.
const minPorts = 1000

// rangeFile is where the kernel keeps its ephemeral port range.
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Port returns a TCP port reserved for t until its cleanup. It fails t
// when no port can be reserved.
func Port(t testing.TB) int {
	t.Helper()
	port, release, err := Reserve()
	if err != nil {
		t.Fatalf("porttest: %v", err)
	}
	t.Cleanup(release)
	return port
}

// Reserve returns a TCP port reserved until release is called (for
// programs that are not tests, such as benchmarks).
func Reserve() (port int, release func(), err error) {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 0, nil, fmt.Errorf("the kernel's ephemeral port range: %w", err)
	}
	high, err := ephemeralStart(string(b))
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", rangeFile, err)
	}
	return reserveBelow(filepath.Join(os.TempDir(), "gitfleet-ports"), high)
}

// ephemeralStart reads the first port of the ephemeral range from the
// contents of rangeFile ("32768\t60999\n").
func ephemeralStart(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("%q: want two ports", s)
	}
	return strconv.Atoi(f[0])
}

// reserveBelow reserves a port in [Low, high) with a lock file in dir.
func reserveBelow(dir string, high int) (int, func(), error) {
	if high-Low < minPorts {
		return 0, nil, fmt.Errorf("the kernel's ephemeral ports start at %d, leaving fewer than %d ports from %d below them for tests: widen the gap (sysctl net.ipv4.ip_local_port_range)", high, minPorts, Low)
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, nil, err
	}
	n := high - Low
	start := rand.IntN(n) // tests of concurrent processes start apart
	for i := range n {
		p := Low + (start+i)%n
		release, ok := lock(dir, p)
		if !ok {
			continue
		}
		if usable(p) {
			return p, release, nil
		}
		release()
	}
	return 0, nil, fmt.Errorf("no free port in %d-%d", Low, high-1)
}

// lock takes the lock file of port p without waiting. The file stays (a
// file removed while another process opens it could be locked twice).
func lock(dir string, p int) (release func(), ok bool) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true // closing the file drops the lock
}

// usable reports whether port p is free on every address and on
// 127.0.0.1, and whether a connection to 127.0.0.1:p reaches a listener
// there (no rule redirects it).
func usable(p int) bool {
	all, err := net.Listen("tcp", ":"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	all.Close()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	defer l.Close()
	return reaches(l.(*net.TCPListener))
}

// probeLimit bounds the self-connection probe: a redirected port either
// refuses at once or leads nowhere.
const probeLimit = 3 * time.Second

// reaches reports whether a connection to l's address is accepted by l.
func reaches(l *net.TCPListener) bool {
	c, err := net.DialTimeout("tcp", l.Addr().String(), probeLimit)
	if err != nil {
		return false
	}
	defer c.Close()
	if err := l.SetDeadline(time.Now().Add(probeLimit)); err != nil {
		return false
	}
	in, err := l.Accept()
	if err != nil {
		return false // the connection went elsewhere
	}
	defer in.Close()
	return in.RemoteAddr().String() == c.LocalAddr().String()
}
