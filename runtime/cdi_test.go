package runtime

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/porttest"
	"golang.org/x/sys/unix"
)

// fakeGPUSpec writes a CDI spec of kind example.com/gpu with one device,
// "0": a character device node made in dir (the host's /dev/null numbers)
// that appears as /dev/fakegpu0, and an env var.
func fakeGPUSpec(t *testing.T, dir string) {
	t.Helper()
	node := filepath.Join(dir, "fakegpu0")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("mknod: %v", err)
	}
	spec := fmt.Sprintf(`{
  "cdiVersion": "0.6.0",
  "kind": "example.com/gpu",
  "devices": [
    {"name": "0", "containerEdits": {
      "deviceNodes": [{"path": "/dev/fakegpu0", "hostPath": %q}],
      "env": ["FAKE_GPU_VISIBLE=0"]}}
  ],
  "containerEdits": {"env": ["FAKE_GPU_DRIVER=1.0"]}
}`, node)
	if err := os.WriteFile(filepath.Join(dir, "fake-gpu.json"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGPUsThroughCDI(t *testing.T) {
	e := setup(t)
	e.pull(t)
	dir := t.TempDir()
	fakeGPUSpec(t, dir)
	c, err := New(t.Context(), Config{Address: e.d.Address, LogDir: e.logDir, RunDir: e.runDir, StopTimeout: 5 * time.Second,
		CDIDevicePrefix: "example.com/gpu", CDISpecDirs: []string{filepath.Join(t.TempDir(), "absent"), dir}},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	port := porttest.Port(t)
	d := desired("gpu-model", port, nil)
	d.Spec.Resources.GPUs = 1
	d = withHash(d.Name, d.Spec)
	if err := c.Run(t.Context(), d, "rev1"); err != nil {
		t.Fatal(err)
	}
	_, env := get(t, port, "/env")
	for _, want := range []string{"FAKE_GPU_VISIBLE=0", "FAKE_GPU_DRIVER=1.0"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env in the container:\n%s\nwant %s", env, want)
		}
	}
	// The device node exists and the device cgroup lets the workload open it.
	if code, body := get(t, port, "/read?path=/dev/fakegpu0"); code != http.StatusOK {
		t.Errorf("read /dev/fakegpu0 in the container: %d %s", code, body)
	}

	// Two GPUs: there is no device 1.
	d2 := desired("two-gpus", porttest.Port(t), nil)
	d2.Spec.Resources.GPUs = 2
	d2 = withHash(d2.Name, d2.Spec)
	err = c.Run(t.Context(), d2, "rev1")
	if err == nil {
		t.Fatal("Run with a GPU no CDI spec describes succeeded")
	}
	for _, want := range []string{"two-gpus", "example.com/gpu=1", dir, "known: example.com/gpu=0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if ins := e.list(t); len(ins) != 1 {
		t.Errorf("containers after the failed run: %+v, want only gpu-model's", ins)
	}

	// gpus with CDIAllGPUs asks for <prefix>=all.
	all, err := New(t.Context(), Config{Address: e.d.Address, LogDir: e.logDir, RunDir: e.runDir, CDIDevicePrefix: "example.com/gpu",
		CDIAllGPUs: true, CDISpecDirs: []string{dir}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if got := all.gpuDevices(3); len(got) != 1 || got[0] != "example.com/gpu=all" {
		t.Errorf("devices with CDIAllGPUs: %v", got)
	}
	if got := c.gpuDevices(2); strings.Join(got, " ") != "example.com/gpu=0 example.com/gpu=1" {
		t.Errorf("devices for 2 GPUs: %v", got)
	}
	if got := (&Containerd{cfg: Config{}.withDefaults()}).gpuDevices(1); got[0] != "nvidia.com/gpu=0" {
		t.Errorf("default device: %v", got)
	}
}
