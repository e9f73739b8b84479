package health_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/health"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// stack is the set-up the tests against real parts share: a private
// containerd, the runtime on it, and examples/model-server's image pushed
// to an in-process registry and pulled.
type stack struct {
	d     *runtimetest.Daemon
	rt    *runtime.Containerd
	image string // the model server's reference
}

// startStack starts the stack; what it starts stops at the end of the
// test, the test's workloads removed before containerd stops.
func startStack(t *testing.T) stack {
	t.Helper()
	ctx := t.Context()
	d := runtimetest.StartT(t)
	rt, err := runtime.New(ctx, runtime.Config{Address: d.Address, LogDir: t.TempDir(), RunDir: t.TempDir(), StopTimeout: 2 * time.Second},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	t.Cleanup(func() { removeAll(t, rt) })
	host := ocitest.NewRegistry(t)
	image := ocitest.ModelServerImage(t, host, "models/server", "defect-v1.json")
	if err := rt.Pull(ctx, originOf(t, image, []spec.Registry{{Host: host, PlainHTTP: true}})); err != nil {
		t.Fatal(err)
	}
	return stack{d: d, rt: rt, image: image}
}

// startMonitor runs a monitor probing through the runtime, each result
// recorded in the returned log, until the end of the test.
func (s stack) startMonitor(t *testing.T) (*health.Monitor, *probeLog) {
	t.Helper()
	probes := newProbeLog()
	m := health.NewMonitor(health.Config{Probe: probes.wrap(health.NewProber(s.rt).Probe),
		Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, probes
}

// originOf is where image is pulled from: its own registry.
func originOf(t *testing.T, image string, regs []spec.Registry) spec.ImageSource {
	t.Helper()
	img, err := spec.ParseImageRef(image)
	if err != nil {
		t.Fatal(err)
	}
	return spec.Origin(regs, img)
}

// removeAll removes the test's workloads before containerd stops, so that
// their networks (addresses, port rules on the host) go with them.
func removeAll(t *testing.T, rt *runtime.Containerd) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ins, err := rt.List(ctx)
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, in := range ins {
		if err := rt.Remove(ctx, in.Workload); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}
