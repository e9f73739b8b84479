// Package proxytest starts an HTTP proxy for tests that stands between a
// client and a real server (a git server, a registry) and plays the
// network's faults: it can go down (its port refuses connections and every
// open connection is cut) and come back on the same address, and it can
// cut one response once it has passed an offset, going down with it. It
// counts the body bytes it sends to clients per path: what crossed the
// link. It can also close a kept-alive connection as a request comes on
// it, as a server closing an idle connection does.
//
// Start takes a testing.TB, registers its own cleanup and fails the test
// (never skips it) when the proxy cannot listen.
package proxytest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gitfleet/gitfleet/internal/porttest"
)

// Proxy forwards HTTP requests to one upstream server.
type Proxy struct {
	t        testing.TB
	upstream string
	addr     string
	client   *http.Client

	mu      sync.Mutex
	srv     *http.Server
	cutPath string // path suffix of the response to cut; "" when disarmed
	cutAt   int64
	cutDone chan struct{}
	// closePath is the path suffix of the next requests to answer by
	// closing their connection: closeN of them, only on reused
	// connections when closeOnReuse; closeFwd says whether they are
	// forwarded first.
	closePath    string
	closeN       int
	closeOnReuse bool
	closeFwd     bool
	closed       int              // requests answered by closing their connection
	sent         map[string]int64 // body bytes sent to clients per path
}

// connKey is the context key of a connection's request count.
type connKey struct{}

// Start starts a proxy to upstream (host:port, plain HTTP) on a loopback
// port reserved for the test (porttest: no other listener is given it
// while the proxy is down); it goes down at the end of the test.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, upstream: upstream, sent: map[string]int64{},
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(porttest.Port(t)))
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Down)
	return p
}

// Addr is the proxy's host:port; it stays the same across Down and Up.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, new(atomic.Int64))
		}}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go srv.Serve(ln)
}

// Cut arms a cut of the next GET whose path ends in suffix, after at body
// bytes: the proxy sends that many bytes, goes down (as Down) and then
// aborts the response. The returned channel closes once the proxy is down.
func (p *Proxy) Cut(suffix string, at int64) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutPath, p.cutAt, p.cutDone = suffix, at, make(chan struct{})
	return p.cutDone
}

// CloseReused arms the proxy to answer the next request whose path ends
// in suffix and that comes on a kept-alive connection (not its first
// request) by reading it and closing the connection without a response,
// as a server does that closed an idle connection as the request came.
// With forward the request first reaches the upstream server, which acts
// on it: the client cannot tell whether it landed.
func (p *Proxy) CloseReused(suffix string, forward bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closePath, p.closeN, p.closeOnReuse, p.closeFwd = suffix, 1, true, forward
}

// CloseNext is CloseReused for the next n requests whose path ends in
// suffix, on any connection.
func (p *Proxy) CloseNext(suffix string, n int, forward bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closePath, p.closeN, p.closeOnReuse, p.closeFwd = suffix, n, false, forward
}

// closeReused closes r's connection if CloseReused or CloseNext is armed
// for it; it
// reports whether it did.
func (p *Proxy) closeReused(w http.ResponseWriter, r *http.Request) bool {
	n := r.Context().Value(connKey{}).(*atomic.Int64).Add(1)
	p.mu.Lock()
	armed := p.closeN > 0 && (n > 1 || !p.closeOnReuse) && strings.HasSuffix(r.URL.Path, p.closePath)
	forward := p.closeFwd
	if armed {
		p.closeN--
		p.closed++
	}
	p.mu.Unlock()
	if !armed {
		return false
	}
	if forward {
		if resp, err := p.forward(r); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	io.Copy(io.Discard, r.Body)
	c, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	c.Close()
	return true
}

// Closed returns how many requests CloseReused and CloseNext have answered
// by closing their connection.
func (p *Proxy) Closed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// forward sends r to the upstream server.
func (p *Proxy) forward(r *http.Request) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+r.URL.RequestURI(), r.Body)
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	req.ContentLength = r.ContentLength
	return p.client.Do(req)
}

// Down closes the listener and every connection: the port refuses.
func (p *Proxy) Down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	p.client.CloseIdleConnections()
}

// Up listens again on the same address.
func (p *Proxy) Up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// Sent returns the body bytes sent to clients for paths ending in suffix
// ("" for every path): what crossed the link to the client.
func (p *Proxy) Sent(suffix string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for path, b := range p.sent {
		if strings.HasSuffix(path, suffix) {
			n += b
		}
	}
	return n
}

func (p *Proxy) handle(w http.ResponseWriter, r *http.Request) {
	if p.closeReused(w, r) {
		return
	}
	resp, err := p.forward(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	p.mu.Lock()
	cutAt := int64(-1)
	var cutDone chan struct{}
	if p.cutPath != "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, p.cutPath) {
		cutAt, cutDone, p.cutPath = p.cutAt, p.cutDone, ""
	}
	p.mu.Unlock()
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := resp.Body.Read(buf)
		if cutAt >= 0 && sent+int64(n) >= cutAt {
			m, _ := w.Write(buf[:cutAt-sent])
			w.(http.Flusher).Flush()
			p.count(r.URL.Path, int64(m))
			// Down before the abort: once the client sees the cut, the
			// port already refuses.
			p.Down()
			close(cutDone)
			panic(http.ErrAbortHandler)
		}
		if n > 0 {
			m, werr := w.Write(buf[:n])
			p.count(r.URL.Path, int64(m))
			if werr != nil {
				return
			}
			sent += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			panic(http.ErrAbortHandler)
		}
	}
}

func (p *Proxy) count(path string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent[path] += n
}
