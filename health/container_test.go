package health_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/health"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
)

// The real probes against examples/model-server run by a private
// containerd, one workload per behaviour.

// withHash names ws as a workload, with the hash fleetd would give it.
func withHash(name string, ws spec.WorkloadSpec) spec.Desired {
	return spec.Desired{Name: name, Spec: ws, Hash: spec.HashSpec(ws)}
}

func dur(d time.Duration) spec.Duration { return spec.Duration{Duration: d} }

// probeLog records every probe result by workload, so a test waits for
// what the monitor saw instead of sleeping.
type probeLog struct {
	mu      sync.Mutex
	results map[string][]error
	changed chan struct{} // closed and replaced at each result
}

func newProbeLog() *probeLog {
	return &probeLog{results: map[string][]error{}, changed: make(chan struct{})}
}

// wrap returns p with each result recorded.
func (l *probeLog) wrap(p health.ProbeFunc) health.ProbeFunc {
	return func(ctx context.Context, d spec.Desired) error {
		err := p(ctx, d)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.results[d.Name] = append(l.results[d.Name], err)
		close(l.changed)
		l.changed = make(chan struct{})
		return err
	}
}

// waitFor returns the workload's results once cond holds for them.
func (l *probeLog) waitFor(ctx context.Context, name string, cond func([]error) bool) ([]error, error) {
	for {
		l.mu.Lock()
		rs, ch := append([]error(nil), l.results[name]...), l.changed
		l.mu.Unlock()
		if cond(rs) {
			return rs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return rs, ctx.Err()
		}
	}
}

// eventually polls cond until it holds. The bound only turns a hang into
// a failure that says what was awaited; it is no performance target.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listens(port int) bool {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err == nil {
		c.Close()
	}
	return err == nil
}

// TestProbesAgainstModelServer runs each probe kind against the real model
// server in a private containerd and checks the verdicts. Durations play
// no part: probe timeouts are far beyond any load, workloads expected
// healthy have a start period (a server still starting is no failure),
// and the slow start ends when the test creates the server's ready file.
func TestProbesAgainstModelServer(t *testing.T) {
	ctx := t.Context()
	st := startStack(t)
	rt, image := st.rt, st.image
	readyDir := t.TempDir()

	type want struct {
		healthy bool
		message string // part of the message of an unhealthy verdict
	}
	const threshold = 2
	probe := func(h spec.Health, grace bool) *spec.Health {
		h.Period, h.Timeout, h.FailureThreshold = dur(time.Second), dur(time.Minute), threshold
		if grace {
			h.StartPeriod = dur(time.Hour)
		}
		return &h
	}
	cases := []struct {
		name   string
		flags  []string
		health func(port int) *spec.Health
		want   want
	}{
		{"http-ok", nil, func(p int) *spec.Health {
			return probe(spec.Health{HTTP: &spec.HTTPProbe{Port: p, Path: "/healthz"}}, true)
		}, want{healthy: true}},
		{"http-fail", []string{"--fail-health"}, func(p int) *spec.Health {
			return probe(spec.Health{HTTP: &spec.HTTPProbe{Port: p, Path: "/healthz"}}, false)
		}, want{message: "503 Service Unavailable: unhealthy (--fail-health)"}},
		{"http-slow", []string{"--ready-file", "/ready/http-slow"}, func(p int) *spec.Health {
			return probe(spec.Health{HTTP: &spec.HTTPProbe{Port: p, Path: "/healthz"}}, true)
		}, want{healthy: true}},
		{"tcp-ok", nil, func(p int) *spec.Health {
			return probe(spec.Health{TCP: &spec.TCPProbe{Port: p}}, true)
		}, want{healthy: true}},
		{"tcp-closed", nil, func(p int) *spec.Health {
			return probe(spec.Health{TCP: &spec.TCPProbe{Port: porttest.Port(t)}}, false)
		}, want{message: "connection refused"}},
		{"exec-ok", nil, func(int) *spec.Health {
			return probe(spec.Health{Exec: &spec.ExecProbe{Command: []string{"/model-server", "-h"}}}, true)
		}, want{healthy: true}},
		{"exec-fail", nil, func(int) *spec.Health {
			return probe(spec.Health{Exec: &spec.ExecProbe{Command: []string{"/model-server", "--no-such-flag"}}}, false)
		}, want{message: "exit code 2: flag provided but not defined: -no-such-flag"}},
	}
	var ws []spec.Desired
	var ports []int
	for _, c := range cases {
		port := porttest.Port(t)
		ports = append(ports, port)
		wspec := spec.WorkloadSpec{
			Image:  image,
			Args:   append([]string{"--listen", fmt.Sprintf(":%d", port)}, c.flags...),
			Ports:  []int{port},
			Health: c.health(port),
		}
		if c.name == "http-slow" {
			wspec.Mounts = []spec.Mount{{Source: readyDir, Target: "/ready", ReadOnly: true}}
		}
		ws = append(ws, withHash(c.name, wspec))
	}
	// The workloads go before the temporary folders: Remove takes down
	// the staged bind of the ready folder.
	t.Cleanup(func() {
		for _, w := range ws {
			if err := rt.Remove(context.Background(), w.Name); err != nil {
				t.Errorf("remove %s: %v", w.Name, err)
			}
		}
	})
	for _, w := range ws {
		w.HostPaths = []string{readyDir} // fleet.yaml's spec.hostPaths allow the mount
		if err := rt.Run(ctx, w, "rev1"); err != nil {
			t.Fatal(err)
		}
	}
	// Every server listens before probing starts, so a failing probe's
	// message is the server's answer, not a server still starting.
	for i, p := range ports {
		eventually(t, ws[i].Name+" to listen", func() bool { return listens(p) })
	}

	m, probes := st.startMonitor(t)
	m.Set(ws)

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := ws[i]
			var readyAt time.Time
			if c.name == "http-slow" {
				readyAt = slowStart(t, m, probes, w)
			}
			healthy, err := m.Wait(ctx, w.Name, w.Hash)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			h, _ := m.Get(w.Name)
			if healthy != c.want.healthy {
				t.Errorf("healthy = %v, want %v (%+v)", healthy, c.want.healthy, h)
			}
			if !healthy && !strings.Contains(h.Message, c.want.message) {
				t.Errorf("message %q, want it to contain %q", h.Message, c.want.message)
			}
			if !readyAt.IsZero() && !h.Since.After(readyAt) {
				t.Errorf("healthy since %v, before the model was ready at %v", h.Since, readyAt)
			}
		})
	}
}

// slowStart checks that a server that is not ready stays starting through
// more failed probes than the failure threshold (its start period is
// grace), then makes it ready and returns when.
func slowStart(t *testing.T, m *health.Monitor, probes *probeLog, w spec.Desired) time.Time {
	t.Helper()
	failed := func(rs []error) int {
		n := 0
		for _, err := range rs {
			if err != nil {
				n++
			}
		}
		return n
	}
	rs, err := probes.waitFor(t.Context(), w.Name, func(rs []error) bool { return failed(rs) > w.Spec.Health.FailureThreshold })
	if err != nil {
		t.Fatalf("waiting for failed probes: %v (%v)", err, rs)
	}
	if failed(rs) != len(rs) {
		t.Fatalf("probes %v, want only failures before the model is ready", rs)
	}
	h, _ := m.Get(w.Name)
	if h.State != health.Starting || h.ConsecutiveFailures != 0 || !strings.Contains(h.Message, "503 Service Unavailable: loading model") {
		t.Fatalf("after %d failed probes in the start period: %+v, want starting, no failure counted, the server's 503 as message", len(rs), h)
	}
	readyAt := time.Now()
	if err := os.WriteFile(filepath.Join(w.Spec.Mounts[0].Source, w.Name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return readyAt
}

func TestExecTimeoutKillsAndCleansUp(t *testing.T) {
	ctx := t.Context()
	st := startStack(t)
	rt, image := st.rt, st.image
	port := porttest.Port(t)
	// Host networking: the exec'd server's port is then the host's, where
	// the test can see it stop.
	w := withHash("busy", spec.WorkloadSpec{Image: image, Args: []string{"--listen", fmt.Sprintf("127.0.0.1:%d", port)}, Network: spec.NetworkHost})
	if err := rt.Run(ctx, w, "rev1"); err != nil {
		t.Fatal(err)
	}
	// A second model server on the same port cannot bind, but one on
	// another port serves until killed: a command that never ends.
	other := porttest.Port(t)
	_, err := rt.Exec(ctx, "busy", []string{"/model-server", "--weights", "/model/weights.json", "--listen", fmt.Sprintf("127.0.0.1:%d", other)}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Exec of a command that never ends: %v, want a timeout", err)
	}
	// Killed: nothing listens on its port any more.
	eventually(t, "the timed-out exec'd process to stop serving", func() bool { return !listens(other) })
	// Many probes leave no exec state behind: each exec ID is unique.
	for range 5 {
		if code, err := rt.Exec(ctx, "busy", []string{"/model-server", "-h"}, time.Minute); err != nil || code != 0 {
			t.Fatalf("Exec: %d, %v", code, err)
		}
	}
	if _, err := rt.Exec(ctx, "missing", []string{"/model-server", "-h"}, time.Second); err == nil {
		t.Error("Exec in a workload that does not run succeeded")
	}
}
