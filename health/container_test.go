package health_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/health"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// The real probes against examples/model-server run by a private
// containerd, one workload per behaviour.

// withHash names ws as a workload, with the hash fleetd would give it.
func withHash(name string, ws spec.WorkloadSpec) spec.Desired {
	return spec.Desired{Name: name, Spec: ws, Hash: spec.HashSpec(ws)}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func dur(d time.Duration) spec.Duration { return spec.Duration{Duration: d} }

func TestProbesAgainstModelServer(t *testing.T) {
	ctx := t.Context()
	d := runtimetest.StartT(t)
	rt, err := runtime.New(ctx, runtime.Config{Address: d.Address, LogDir: t.TempDir(), StopTimeout: 2 * time.Second},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	host := ocitest.NewRegistry(t)
	image := ocitest.ModelServerImage(t, host, "models/server", "defect-v1.json")
	regs := []spec.Registry{{Host: host, PlainHTTP: true}}
	if err := rt.Pull(ctx, image, regs); err != nil {
		t.Fatal(err)
	}

	type want struct {
		healthy  bool
		starting bool   // seen starting before the verdict
		message  string // part of the message of an unhealthy verdict
	}
	fast := func(h spec.Health) *spec.Health {
		h.Period, h.Timeout = dur(time.Second), dur(2*time.Second)
		if h.FailureThreshold == 0 {
			h.FailureThreshold = 2
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
			return fast(spec.Health{HTTP: &spec.HTTPProbe{Port: p, Path: "/healthz"}})
		}, want{healthy: true}},
		{"http-fail", []string{"--fail-health"}, func(p int) *spec.Health {
			return fast(spec.Health{HTTP: &spec.HTTPProbe{Port: p, Path: "/healthz"}})
		}, want{message: "503 Service Unavailable: unhealthy (--fail-health)"}},
		{"http-slow", []string{"--start-delay", "3s"}, func(p int) *spec.Health {
			return fast(spec.Health{HTTP: &spec.HTTPProbe{Port: p, Path: "/healthz"}, StartPeriod: dur(20 * time.Second)})
		}, want{healthy: true, starting: true}},
		{"tcp-ok", nil, func(p int) *spec.Health {
			return fast(spec.Health{TCP: &spec.TCPProbe{Port: p}})
		}, want{healthy: true}},
		{"tcp-closed", nil, func(p int) *spec.Health {
			return fast(spec.Health{TCP: &spec.TCPProbe{Port: freePort(t)}})
		}, want{message: "connection refused"}},
		{"exec-ok", nil, func(int) *spec.Health {
			return fast(spec.Health{Exec: &spec.ExecProbe{Command: []string{"/model-server", "-h"}}})
		}, want{healthy: true}},
		{"exec-fail", nil, func(int) *spec.Health {
			return fast(spec.Health{Exec: &spec.ExecProbe{Command: []string{"/model-server", "--no-such-flag"}}})
		}, want{message: "exit code 2: flag provided but not defined: -no-such-flag"}},
	}
	var ws []spec.Desired
	for _, c := range cases {
		port := freePort(t)
		ws = append(ws, withHash(c.name, spec.WorkloadSpec{
			Image:  image,
			Args:   append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", port)}, c.flags...),
			Ports:  []int{port},
			Health: c.health(port),
		}))
	}
	for _, w := range ws {
		if err := rt.Run(ctx, w, "rev1"); err != nil {
			t.Fatal(err)
		}
	}

	m := health.NewMonitor(health.Config{Exec: rt, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(mctx) }()
	t.Cleanup(func() { cancel(); <-done })
	setAt := time.Now()
	m.Set(ws)

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := ws[i]
			var sawStarting bool
			if h, _ := m.Get(w.Name); h.State == health.Starting {
				sawStarting = true
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			start := time.Now()
			healthy, err := m.Wait(wctx, w.Name, w.Hash)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			h, _ := m.Get(w.Name)
			t.Logf("%s after %v: %+v", h.State, time.Since(start).Round(time.Millisecond), h)
			if healthy != c.want.healthy {
				t.Errorf("healthy = %v, want %v (%+v)", healthy, c.want.healthy, h)
			}
			if c.want.starting && (!sawStarting || h.Since.Sub(setAt) < 2500*time.Millisecond) {
				t.Errorf("verdict %s since %v after Set, want starting for about 3s first", h.State, h.Since.Sub(setAt))
			}
			if !healthy && !strings.Contains(h.Message, c.want.message) {
				t.Errorf("message %q, want it to contain %q", h.Message, c.want.message)
			}
		})
	}
}

func TestExecTimeoutKillsAndCleansUp(t *testing.T) {
	ctx := t.Context()
	d := runtimetest.StartT(t)
	rt, err := runtime.New(ctx, runtime.Config{Address: d.Address, LogDir: t.TempDir(), StopTimeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	host := ocitest.NewRegistry(t)
	image := ocitest.ModelServerImage(t, host, "models/server", "defect-v1.json")
	if err := rt.Pull(ctx, image, []spec.Registry{{Host: host, PlainHTTP: true}}); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	w := withHash("busy", spec.WorkloadSpec{Image: image, Args: []string{"--listen", fmt.Sprintf("127.0.0.1:%d", port)}})
	if err := rt.Run(ctx, w, "rev1"); err != nil {
		t.Fatal(err)
	}
	// A second model server on the same port cannot bind, but one on
	// another port serves until killed: a command that never ends.
	other := freePort(t)
	start := time.Now()
	_, err = rt.Exec(ctx, "busy", []string{"/model-server", "--weights", "/model/weights.json", "--listen", fmt.Sprintf("127.0.0.1:%d", other)}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Exec of a command that never ends: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Exec took %v, want about the 1s timeout", took)
	}
	// Killed: nothing listens on its port any more.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", other))
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the timed-out exec'd process still serves")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Many probes leave no exec state behind: each exec ID is unique.
	for range 5 {
		if code, err := rt.Exec(ctx, "busy", []string{"/model-server", "-h"}, 5*time.Second); err != nil || code != 0 {
			t.Fatalf("Exec: %d, %v", code, err)
		}
	}
	if _, err := rt.Exec(ctx, "missing", []string{"/model-server", "-h"}, time.Second); err == nil {
		t.Error("Exec in a workload that does not run succeeded")
	}
}
