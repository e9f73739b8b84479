// Package proxytest starts an HTTP proxy for tests that stands between a
// client and a real server (a git server, a registry) and plays the
// network's faults: it can go down (its port refuses connections and every
// open connection is cut) and come back on the same address, and it can
// cut one response once it has passed an offset, going down with it. It
// counts the body bytes it sends to clients per path: what crossed the
// link.
//
// Start takes a testing.TB, registers its own cleanup and fails the test
// (never skips it) when the proxy cannot listen.
package proxytest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
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
	sent    map[string]int64 // body bytes sent to clients per path
}

// Start starts a proxy to upstream (host:port, plain HTTP) on a free
// loopback port; it goes down at the end of the test.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, upstream: upstream, sent: map[string]int64{},
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
	srv := &http.Server{Handler: http.HandlerFunc(p.handle)}
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
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	req.ContentLength = r.ContentLength
	resp, err := p.client.Do(req)
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
