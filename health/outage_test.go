package health_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/health"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// While containerd is down an exec probe cannot run: that is no failure of
// the workload (which goes on serving), so a healthy verdict stays healthy
// through more lost probes than the failure threshold, and probes pass
// again once containerd is back. Otherwise an outage longer than the
// threshold would roll a good version back.
func TestExecProbesThroughAContainerdOutage(t *testing.T) {
	ctx := t.Context()
	d := runtimetest.StartT(t)
	rt, err := runtime.New(ctx, runtime.Config{Address: d.Address, LogDir: t.TempDir(), RunDir: t.TempDir(), StopTimeout: 2 * time.Second}, nil)
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
	port := freePort(t)
	const threshold = 2
	w := withHash("steady", spec.WorkloadSpec{
		Image: image, Args: []string{"--listen", fmt.Sprintf(":%d", port)}, Ports: []int{port},
		Health: &spec.Health{Exec: &spec.ExecProbe{Command: []string{"/model-server", "-h"}},
			Period: dur(time.Second), Timeout: dur(time.Minute), FailureThreshold: threshold},
	})
	if err := rt.Run(ctx, w, "rev1"); err != nil {
		t.Fatal(err)
	}
	probes := newProbeLog()
	m := health.NewMonitor(health.Config{Probe: probes.wrap(health.NewProber(rt).Probe),
		Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(mctx) }()
	t.Cleanup(func() { cancel(); <-done })
	m.Set([]spec.Desired{w})
	if ok, err := m.Wait(ctx, w.Name, w.Hash); err != nil || !ok {
		h, _ := m.Get(w.Name)
		t.Fatalf("before the outage: healthy %v, %v (%+v)", ok, err, h)
	}

	if err := d.KillProcess(); err != nil {
		t.Fatal(err)
	}
	rs, _ := probes.waitFor(ctx, w.Name, func(rs []error) bool { return notRun(rs) > threshold })
	if n := notRun(rs); n <= threshold {
		t.Fatalf("%d probes not run during the outage, want more than %d", n, threshold)
	}
	h, _ := m.Get(w.Name)
	if h.State != health.Healthy || h.ConsecutiveFailures != 0 || !strings.HasPrefix(h.Message, "probe not run: ") {
		t.Errorf("during the outage: %+v, want healthy with no failure counted and the message saying the probe did not run", h)
	}

	if err := d.StartProcess(); err != nil {
		t.Fatal(err)
	}
	before := len(rs)
	probes.waitFor(ctx, w.Name, func(rs []error) bool { return len(rs) > before && rs[len(rs)-1] == nil })
	if h, _ := m.Get(w.Name); h.State != health.Healthy || h.Message != "" {
		t.Errorf("after the outage: %+v, want healthy", h)
	}
}

// notRun counts the probe results that could not run.
func notRun(rs []error) int {
	n := 0
	for _, err := range rs {
		if health.NotRun(err) {
			n++
		}
	}
	return n
}
