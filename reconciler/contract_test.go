package reconciler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/reconciler/reconcilertest"
	"github.com/gitfleet/gitfleet/spec"
)

// TestFakeRuntimeContract runs the contract the real runtime is held to
// (runtime.TestRuntimeContract) against the fake the reconciler's unit
// tests use, so the fake cannot drift from it.
func TestFakeRuntimeContract(t *testing.T) {
	image := func(name string) string {
		return "127.0.0.1:5000/models/" + name + "@sha256:" + strings.Repeat(fmt.Sprintf("%x", len(name)%16), 64)
	}
	reconcilertest.TestRuntime(t, func(*testing.T) reconciler.Runtime {
		return reconciler.NewFakeRuntime(image("broken"))
	}, reconcilertest.Options{
		Workload: func(port int) spec.WorkloadSpec {
			return spec.WorkloadSpec{Image: image("echo"), Args: []string{"--port", fmt.Sprint(port)}, Ports: []int{port}}
		},
		Unstartable: func(port int) spec.WorkloadSpec {
			return spec.WorkloadSpec{Image: image("broken"), Ports: []int{port}}
		},
	})
}
