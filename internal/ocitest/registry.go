package ocitest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// NewRegistry starts go-containerregistry's in-memory registry, with the
// OCI 1.1 referrers API enabled, on a loopback httptest server and returns
// its host ("127.0.0.1:PORT"). The server is closed at cleanup.
func NewRegistry(t testing.TB) (host string) {
	t.Helper()
	return NewRegistryWith(t, nil)
}

// Handler is go-containerregistry's in-memory registry (referrers API on)
// as an http.Handler, for programs that serve it themselves: the demo and
// the benchmarks.
func Handler() http.Handler {
	return registry.New(
		registry.Logger(log.New(io.Discard, "", 0)),
		registry.WithReferrersSupport(true),
	)
}

// NewRegistryWith is NewRegistry with the registry's handler passed through
// wrap (when not nil), so a test can count, delay or fail requests.
// A Recorder's Wrap method fits.
func NewRegistryWith(t testing.TB, wrap func(http.Handler) http.Handler) (host string) {
	t.Helper()
	h := Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Request is one request a Recorder saw.
type Request struct {
	Method string
	Path   string
	Status int
}

// Recorder records the requests that pass through its Wrap handler and can
// make chosen requests fail. The zero value records and fails nothing.
type Recorder struct {
	mu   sync.Mutex
	reqs []Request
	fail func(*http.Request) int
}

// Wrap returns h with every request recorded. Use it as the wrap argument
// of NewRegistryWith.
func (r *Recorder) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		fail := r.fail
		r.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if fail != nil {
			if code := fail(req); code != 0 {
				http.Error(w, http.StatusText(code), code)
				r.record(req, code)
				return
			}
		}
		h.ServeHTTP(sw, req)
		r.record(req, sw.status)
	})
}

// FailWith makes every later request for which fail returns a non-zero
// status code answer with that code instead of reaching the registry.
// A nil fail stops failing requests.
func (r *Recorder) FailWith(fail func(*http.Request) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = fail
}

// Requests returns a copy of the requests seen so far, in order.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Count returns how many requests used method (any method if "") on a path
// containing pathPart, e.g. Count("GET", "/blobs/").
func (r *Recorder) Count(method, pathPart string) int {
	n := 0
	for _, q := range r.Requests() {
		if (method == "" || q.Method == method) && strings.Contains(q.Path, pathPart) {
			n++
		}
	}
	return n
}

// Reset forgets the requests recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

func (r *Recorder) record(req *http.Request, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, Request{Method: req.Method, Path: req.URL.Path, Status: status})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
