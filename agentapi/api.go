// Package agentapi is fleetd's local HTTP API: /metrics for Prometheus,
// /healthz and /readyz for supervisors, /status (the node's current report
// as JSON) and POST /sync, which starts the next pass at once. It observes
// the reconciler through reconciler.Observer and the status it reports,
// so the reconciler stays free of Prometheus. It listens on loopback or a
// unix socket: it has no authentication, and POST /sync only moves the
// next poll earlier.
package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/status"
)

// DefaultAddr is where fleetd listens unless told otherwise.
const DefaultAddr = "127.0.0.1:9472"

// API serves the local API of one agent.
type API struct {
	// RefusalReason names what a refused pass refused, for the reason
	// label of gitfleet_refusals_total ("spec", "commit", "image", …); nil
	// counts every refusal as "other". Set it before the first pass.
	RefusalReason func(error) string

	wake    chan<- struct{}
	reg     *prometheus.Registry
	m       *metrics
	mu      sync.Mutex
	last    *status.NodeStatus
	passed  bool
	started time.Time
}

// New returns an API that sends on wake (buffered, capacity 1) for POST
// /sync.
func New(wake chan<- struct{}) *API {
	reg := prometheus.NewRegistry()
	return &API{wake: wake, reg: reg, m: newMetrics(reg), started: time.Now()}
}

// Sync asks for a pass now; a request while one is already pending is
// merged with it. SIGHUP calls it too.
func (a *API) Sync() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Handler serves the API.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		ready := a.passed
		a.mu.Unlock()
		if !ready {
			http.Error(w, "no pass finished yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		st := a.last
		a.mu.Unlock()
		if st == nil {
			http.Error(w, "no report made yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, _ *http.Request) {
		a.Sync()
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("sync requested\n"))
	})
	return mux
}

// ObservePass implements reconciler.Observer.
func (a *API) ObservePass(p reconciler.PassResult) {
	a.mu.Lock()
	a.passed = true
	a.mu.Unlock()
	a.m.observePass(p, a.RefusalReason)
}

// ObservePull records one image pull: the bytes it read from the
// registry, how long it took, and whether it failed.
func (a *API) ObservePull(bytes int64, took time.Duration, err error) {
	a.m.observePull(bytes, took, err)
}

// ObserveGitBytes records git traffic: sent and received bytes of an
// exchange made for op (poll, fetch, push, reports, headurl, other).
func (a *API) ObserveGitBytes(op string, sent, received int64) {
	a.m.observeGitBytes(op, sent, received)
}

// Reporter wraps next: every report it pushes becomes /status, sets the
// workload metrics, and its push latency is measured.
func (a *API) Reporter(next reconciler.Reporter) reconciler.Reporter {
	return reporter{a: a, next: next}
}

type reporter struct {
	a    *API
	next reconciler.Reporter
}

func (r reporter) Report(ctx context.Context, st *status.NodeStatus) error {
	start := time.Now()
	err := r.next.Report(ctx, st)
	r.a.m.observeReport(st, time.Since(start), err)
	r.a.mu.Lock()
	r.a.last = st
	r.a.mu.Unlock()
	return err
}

// Listen listens on addr: "host:port", or a unix socket given as
// "unix:PATH" or an absolute path (a stale socket file is replaced; the
// socket is made mode 0600).
func Listen(addr string) (net.Listener, error) {
	path, isUnix := strings.CutPrefix(addr, "unix:")
	if !isUnix && strings.HasPrefix(addr, "/") {
		path, isUnix = addr, true
	}
	if !isUnix {
		return net.Listen("tcp", addr)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	return l, os.Chmod(path, 0o600)
}
