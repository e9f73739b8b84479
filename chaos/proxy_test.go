package chaos

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// faultProxy stands between fleetd and a real server (the git server, the
// registry): it forwards HTTP requests and counts the body bytes it reads
// from the server per path. It can go down (its port refuses connections
// and every open connection is cut) and come back on the same address,
// and it can cut one response once it has passed an offset, going down
// with it.
type faultProxy struct {
	t        *testing.T
	upstream string
	addr     string
	client   *http.Client

	mu      sync.Mutex
	srv     *http.Server
	cutPath string // path suffix of the response to cut; "" when disarmed
	cutAt   int64
	cutDone chan struct{}
	sent    map[string]int64 // body bytes sent to the client per path
}

func startProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	p := &faultProxy{t: t, upstream: upstream, sent: map[string]int64{},
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *faultProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle)}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go srv.Serve(ln)
}

// cut arms a cut of the next GET whose path ends in suffix, after at body
// bytes; the returned channel closes when it happened.
func (p *faultProxy) cut(suffix string, at int64) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutPath, p.cutAt, p.cutDone = suffix, at, make(chan struct{})
	return p.cutDone
}

// down closes the listener and every connection: the port refuses.
func (p *faultProxy) down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	p.client.CloseIdleConnections()
}

// up listens again on the same address.
func (p *faultProxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// fetched returns the body bytes sent to clients for paths ending in
// suffix: what crossed the link to the node.
func (p *faultProxy) fetched(suffix string) int64 {
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

func (p *faultProxy) handle(w http.ResponseWriter, r *http.Request) {
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
			w.Write(buf[:cutAt-sent])
			w.(http.Flusher).Flush()
			p.count(r.URL.Path, cutAt-sent)
			go func() { p.down(); close(cutDone) }()
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

func (p *faultProxy) count(path string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent[path] += n
}
