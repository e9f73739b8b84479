package gittest

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a server and counts the bytes both
// ways: what a client costs on the wire, whatever its protocol (HTTP,
// git://, ssh). Bytes are counted before they are passed on, so whatever a
// client has received is counted.
type Proxy struct {
	l       net.Listener
	backend string
	bytes   atomic.Int64
	conns   atomic.Int64
	closing atomic.Int64 // connections with one direction ended
}

// NewProxy starts a proxy to backend (host:port) on a free loopback port;
// it stops at the end of the test.
func NewProxy(t testing.TB, backend string) *Proxy {
	t.Helper()
	p, err := StartProxy(backend)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// StartProxy starts a proxy to backend (host:port) on a free loopback
// port, outside a test (benchmarks); Close stops it.
func StartProxy(backend string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, backend: backend}
	go p.serve()
	return p, nil
}

// Close stops accepting connections.
func (p *Proxy) Close() { p.l.Close() }

// Bytes returns the bytes counted since the last Take, at once.
func (p *Proxy) Bytes() int64 { return p.bytes.Load() }

// ProxyURL starts a proxy to the server of rawURL (git://, http:// or
// ssh://, with a port) and returns the same URL through the proxy.
func ProxyURL(t testing.TB, rawURL string) (string, *Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p := NewProxy(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Take returns the bytes counted since the last Take and the connections
// opened since then. It first lets the traffic settle: connections a
// client is closing finish, and nothing has passed for a moment (kept-alive
// connections stay open).
func (p *Proxy) Take() (bytes, conns int64) {
	deadline := time.Now().Add(5 * time.Second)
	for last := int64(-1); time.Now().Before(deadline); {
		n := p.bytes.Load()
		if n == last && p.closing.Load() == 0 {
			break
		}
		last = n
		time.Sleep(25 * time.Millisecond)
	}
	return p.bytes.Swap(0), p.conns.Swap(0)
}

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		go p.handle(c)
	}
}

func (p *Proxy) handle(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	var ended atomic.Int32
	pipe := func(dst, src net.Conn) {
		// Small: a fleet simulation keeps thousands of connections open.
		buf := make([]byte, 8<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.bytes.Add(int64(n))
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		if ended.Add(1) == 1 {
			p.closing.Add(1)
		} else {
			p.closing.Add(-1)
		}
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	<-done
}

// RequestLog records the requests an HTTP server of this package answers,
// as "METHOD /path?query".
type RequestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *RequestLog) add(r *http.Request) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r.Method+" "+r.URL.RequestURI())
}

// Take returns the requests recorded since the last Take.
func (l *RequestLog) Take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

// AddRefs creates n branches refs/heads/<prefix>00001… in BareDir, all at
// main's commit, and packs them (as a busy server keeps its refs).
func (r *Repo) AddRefs(prefix string, n int) {
	r.t.Helper()
	head := r.RemoteRef("refs/heads/main")
	if head == "" {
		r.t.Fatal("AddRefs: main has no commit yet")
	}
	var in strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&in, "create refs/heads/%s%05d %s\n", prefix, i, head)
	}
	cmd := Command(r.BareDir, "update-ref", "--stdin")
	cmd.Stdin = strings.NewReader(in.String())
	run(r.t, cmd)
	r.BareGit("pack-refs", "--all")
}
