package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/reconciler/reconcilertest"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// TestRuntimeContract runs the reconciler's runtime contract against
// Containerd on a private containerd: the echo image serves, and an image
// without an entrypoint, told to run an executable it lacks, cannot start.
// Each case gets a namespace of its own on one daemon.
func TestRuntimeContract(t *testing.T) {
	d := runtimetest.StartT(t)
	runDir := t.TempDir()
	t.Cleanup(func() { unmountBelow(t, runDir) })
	broken := ocitest.RandomImage(t, reg.host, "test/no-entrypoint")
	n := 0
	reconcilertest.TestRuntime(t, func(t *testing.T) reconciler.Runtime {
		n++
		c, err := New(t.Context(), Config{Address: d.Address, Namespace: fmt.Sprintf("contract-%d", n),
			LogDir: t.TempDir(), RunDir: runDir, StopTimeout: 5 * time.Second},
			slog.New(slog.NewTextHandler(t.Output(), nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// Before the client closes: no workload's network outlives the case.
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ins, err := c.List(ctx)
			if err != nil {
				t.Errorf("cleanup: %v", err)
			}
			for _, in := range ins {
				if err := c.Remove(ctx, in.Workload); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		})
		return c
	}, reconcilertest.Options{
		Workload: func(port int) spec.WorkloadSpec {
			return spec.WorkloadSpec{Image: echo.ref, Args: []string{"--port", fmt.Sprint(port)}, Ports: []int{port}}
		},
		Unstartable: func(port int) spec.WorkloadSpec {
			return spec.WorkloadSpec{Image: broken, Args: []string{"/no-such-executable"}, Ports: []int{port}}
		},
		Registries: registries(),
	})
}
