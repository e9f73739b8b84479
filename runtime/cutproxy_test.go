package runtime

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// cutProxy forwards HTTP requests to a registry and counts the body bytes
// it reads from it per path. Armed, it cuts the response of a blob once it
// has passed an offset and then goes down: its port refuses connections
// until up is called.
type cutProxy struct {
	t        *testing.T
	upstream string
	addr     string
	client   *http.Client

	mu      sync.Mutex
	srv     *http.Server
	cutPath string // path suffix of the response to cut; "" when disarmed
	cutAt   int64
	read    map[string]int64 // body bytes read from upstream per path
}

func startCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	p := &cutProxy{t: t, upstream: upstream, read: map[string]int64{},
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.down() })
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle)}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go srv.Serve(ln)
}

// cut arms a cut of the next response whose path ends in path, after at
// body bytes.
func (p *cutProxy) cut(path string, at int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutPath, p.cutAt = path, at
}

// down closes the listener and every connection: the port refuses.
func (p *cutProxy) down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// up listens again on the same address.
func (p *cutProxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// fetched returns the body bytes read from upstream for paths ending in
// suffix ("" for all).
func (p *cutProxy) fetched(suffix string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for path, b := range p.read {
		if strings.HasSuffix(path, suffix) {
			n += b
		}
	}
	return n
}

func (p *cutProxy) handle(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
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
	if p.cutPath != "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, p.cutPath) {
		cutAt, p.cutPath = p.cutAt, ""
	}
	p.mu.Unlock()
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := resp.Body.Read(buf)
		p.mu.Lock()
		p.read[r.URL.Path] += int64(n)
		p.mu.Unlock()
		if cutAt >= 0 && sent+int64(n) >= cutAt {
			w.Write(buf[:cutAt-sent])
			w.(http.Flusher).Flush()
			p.down()
			panic(http.ErrAbortHandler)
		}
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
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
