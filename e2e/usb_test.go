package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/ocitest"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/internal/sticktest"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/runtime/runtimetest"
)

// airgap is an air-gapped site: an office with the fleet repo and a
// registry, where sticks are made and read back, and one node with no
// network at all (fleetd in a network namespace of its own, loopback
// only, talking to its containerd by unix socket) that sticks are plugged
// into under its --usb-root.
type airgap struct {
	t        *testing.T
	fleet    *sticktest.Fleet
	central  string // the fleet repo, file://
	stopReg  func()
	ctd      *runtimetest.Daemon
	rt       *runtime.Containerd
	usbRoot  string
	stateDir string
	port     int
}

func newAirgap(t *testing.T) *airgap {
	t.Helper()
	host, stop, err := ocitest.StartDockerRegistryProcess(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	a := &airgap{t: t, stopReg: stop, ctd: runtimetest.StartT(t), usbRoot: t.TempDir(), stateDir: t.TempDir(), port: porttest.Port(t)}
	a.fleet = sticktest.NewFleet(t, host)
	a.central = gittest.FileURL(a.fleet.Repo.BareDir)
	a.rt, err = runtime.New(context.Background(), runtime.Config{Address: a.ctd.Address, LogDir: filepath.Join(a.stateDir, "test-logs"), RunDir: filepath.Join(a.stateDir, "run")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.rt.Close() })
	t.Cleanup(func() { removeWorkloads(t, a.rt) })
	a.fleet.Node("press-01", map[string]string{"line": "a"})
	// The node's status key, enrolled before its first start: fleetctl
	// status trusts the reports it writes onto sticks only so.
	node, err := os.ReadFile(filepath.Join(a.fleet.Repo.Dir, "nodes", "press-01.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a.fleet.Repo.Write("nodes/press-01.yaml", string(node)+"spec:\n  statusKey: "+printStatusKey(t, a.stateDir, "press-01")+"\n")
	a.fleet.Group("line-a", "line=a", "defect")
	return a
}

// model publishes a signed model-server image with weights and makes it
// the defect workload's.
func (a *airgap) model(weights string) string {
	a.t.Helper()
	ref := ocitest.ModelServerImage(a.t, a.fleet.Registry, "models/defect", weights)
	a.fleet.Sign(ref)
	// The port is mapped to the node's (containerd's) network, which the
	// test reaches although fleetd runs in a namespace of its own.
	a.fleet.Repo.Write("workloads/defect.yaml", fmt.Sprintf(`apiVersion: gitfleet.dev/v1alpha1
kind: Workload
metadata: {name: defect}
spec:
  image: %s
  args: ["--listen", ":%d"]
  ports: [%d]
  resources: {memory: 64Mi, cpu: "0.5"}
`, ref, a.port, a.port))
	return ref
}

// fleetctl runs the operator's CLI and returns its output.
func (a *airgap) fleetctl(args ...string) (string, error) {
	a.t.Helper()
	out, err := exec.Command(fleetctlBin, args...).CombinedOutput()
	return string(out), err
}

// stick makes a stick of fs and writes an export for press-01 onto it,
// mounted in the office; it comes back unmounted.
func (a *airgap) stick(fs sticktest.FS, extra ...string) *sticktest.Stick {
	a.t.Helper()
	s := sticktest.New(a.t, fs, 96, "")
	s.Mount(filepath.Join(a.t.TempDir(), "office"))
	if out, err := a.fleetctl(append([]string{"usb", "export", "--repo", a.central, "--out", s.Dir, "--node", "press-01"}, extra...)...); err != nil {
		a.t.Fatalf("fleetctl usb export: %v\n%s", err, out)
	}
	s.Unmount()
	return s
}

// startNode runs fleetd for press-01 in a network namespace of its own:
// no --repo, no registry, nothing but its sticks.
func (a *airgap) startNode() *daemon {
	a.t.Helper()
	return startDaemon(a.t, exec.Command("unshare", "--net", "--", fleetdBin, "--node", "press-01", "--labels", "line=a",
		"--containerd-address", a.ctd.Address, "--state-dir", a.stateDir, "--trust-dir", a.fleet.TrustDir,
		"--usb-root", a.usbRoot, "--log-level", "debug"), true)
}

// plug mounts the stick under the node's usb root, as an automounter does.
func (a *airgap) plug(s *sticktest.Stick, label string) {
	a.t.Helper()
	s.Mount(filepath.Join(a.usbRoot, "operator", label))
}

// waitLog waits for the n-th log line holding msg; the bound only stops a
// broken test.
func (d *daemon) waitLog(t *testing.T, msg string, n int) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if out := d.output(); strings.Count(out, msg) >= n {
			return out
		}
		select {
		case err := <-d.done:
			t.Fatalf("fleetd exited (%v) before logging %q:\n%s", err, msg, d.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("fleetd did not log %q %d times:\n%s", msg, n, d.output())
	return ""
}

// running returns the image of the defect workload's container, "" if none.
func (a *airgap) running() string {
	a.t.Helper()
	list, err := a.rt.List(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	for _, in := range list {
		if in.Workload == "defect" && in.State == "running" {
			return in.Image
		}
	}
	return ""
}

// TestUSBStickEndToEnd: export, stick, an offline node applies it and
// writes its status onto the stick, import, fleetctl status shows the node
// up to date.
func TestUSBStickEndToEnd(t *testing.T) {
	for _, fs := range []sticktest.FS{sticktest.Ext4, sticktest.Vfat} {
		t.Run(string(fs), func(t *testing.T) {
			a := newAirgap(t)
			ref := a.model("defect-v1.json")
			rev := a.fleet.Commit("defect v1")
			s := a.stick(fs)
			a.stopReg() // the office's registry is gone; the node never had one

			node := a.startNode()
			a.plug(s, "STICK")
			node.waitLog(t, "safe to remove", 1)
			if got := a.running(); got != ref {
				t.Fatalf("defect runs %q, want %s", got, ref)
			}
			if v := modelVersion(t, a.port); !strings.Contains(v, "defect") {
				t.Errorf("model answers %q", v)
			}

			// Back in the office: the stick's status goes into the repo.
			s.Pull()
			s.Mount(filepath.Join(t.TempDir(), "office"))
			out, err := a.fleetctl("usb", "import", s.Dir, "--repo", a.central)
			if err != nil || !strings.Contains(out, "press-01") {
				t.Fatalf("fleetctl usb import: %v\n%s", err, out)
			}
			out, err = a.fleetctl("status", "--repo", a.central, "--output", "json")
			if err != nil {
				t.Fatalf("fleetctl status: %v\n%s", err, out)
			}
			if !strings.Contains(out, `"up-to-date"`) || !strings.Contains(out, rev) {
				t.Errorf("fleetctl status does not show press-01 up to date at %s:\n%s", rev, out)
			}
		})
	}
}
