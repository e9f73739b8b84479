package health_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/health"
	"github.com/gitfleet/gitfleet/internal/imagebuild"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
)

// BenchmarkProbeCPU measures the agent's CPU for probing 5 healthy model
// servers over HTTP (the servers run as plain processes: the probe's cost
// is the same through a container on the host network). It probes every
// BENCH_PROBE_PERIOD (default 1s) for BENCH_PROBE_FOR (default 30s),
// reads getrusage(RUSAGE_SELF) around it and reports the CPU per probe and
// what it comes to at the default 10 s period. Run once:
//
//	go test -run '^$' -bench ProbeCPU -benchtime 1x ./health/
func BenchmarkProbeCPU(b *testing.B) {
	period, window := envDuration(b, "BENCH_PROBE_PERIOD", time.Second), envDuration(b, "BENCH_PROBE_FOR", 30*time.Second)
	root, err := imagebuild.ModuleRoot(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "model-server")
	build := exec.Command("go", "build", "-o", bin, "./examples/model-server")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	weights := filepath.Join(root, "examples/model-server/weights/defect-v1.json")
	var ws []spec.Desired
	for i := range 5 {
		port := porttest.Port(b)
		cmd := exec.Command(bin, "--weights", weights, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		ws = append(ws, spec.Desired{Name: fmt.Sprintf("w%d", i), Hash: "h", Spec: spec.WorkloadSpec{Health: &spec.Health{
			HTTP: &spec.HTTPProbe{Port: port, Path: "/healthz"}, Period: spec.Duration{Duration: period},
			Timeout: spec.Duration{Duration: 2 * time.Second}, FailureThreshold: 3}}})
	}

	prober := health.NewProber(nil)
	var probes atomic.Int64
	probe := func(ctx context.Context, d spec.Desired) error {
		probes.Add(1)
		return prober.Probe(ctx, d)
	}
	m := health.NewMonitor(health.Config{Probe: probe})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	m.Set(ws)
	for _, w := range ws {
		wctx, c := context.WithTimeout(ctx, 10*time.Second)
		if ok, err := m.Wait(wctx, w.Name, w.Hash); err != nil || !ok {
			b.Fatalf("%s not healthy: %v", w.Name, err)
		}
		c()
	}
	b.ResetTimer()
	startCPU, start := cpuTime(b), time.Now()
	before := probes.Load()
	time.Sleep(window)
	used, elapsed := cpuTime(b)-startCPU, time.Since(start)
	total := probes.Load() - before
	cancel()
	<-done
	perProbe := used / time.Duration(max(total, 1))
	b.ReportMetric(float64(perProbe.Microseconds()), "cpu-µs/probe")
	b.ReportMetric(100*used.Seconds()/elapsed.Seconds(), "%core-measured")
	// 5 workloads at the default 10 s period.
	b.ReportMetric(100*(perProbe.Seconds()*5/10), "%core-at-10s")
	b.Logf("%d probes in %v (period %v): %v CPU, %v a probe", total, elapsed.Round(time.Millisecond), period, used, perProbe)
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return d
}
