package runtime

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/runtime/runtimetest"
	"github.com/gitfleet/gitfleet/spec"
)

// Shared by every test: the echo image in an in-process registry. Each test
// starts its own private containerd.
var (
	reg  *testRegistry
	echo testImage
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "echo")
	if err != nil {
		log.Print(err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := buildEcho(dir)
	if err != nil {
		log.Print(err)
		return 1
	}
	reg = newTestRegistry()
	defer reg.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if echo, err = pushEcho(ctx, reg, "test/echo", bin); err != nil {
		log.Print(err)
		return 1
	}
	return m.Run()
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// registries is the fleet's registry settings for the test registry.
func registries() []spec.Registry {
	return []spec.Registry{{Host: reg.host, PlainHTTP: true}}
}

// source is the first place regs say ref is read from, as the image
// adapter would hand it on.
func source(t testing.TB, ref string, regs []spec.Registry) spec.ImageSource {
	t.Helper()
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	return spec.Sources(regs, img)[0]
}

// env is one test's private containerd and a client of it.
type env struct {
	d      *runtimetest.Daemon
	c      *Containerd
	logDir string
	runDir string
}

func setup(t *testing.T) *env {
	t.Helper()
	e := &env{d: runtimetest.StartT(t), logDir: t.TempDir(), runDir: t.TempDir()}
	// Runs before the temporary directories are removed: a staged bind
	// left behind must never let their removal reach into a host folder.
	t.Cleanup(func() { unmountBelow(t, e.runDir) })
	e.c = e.connect(t)
	// Runs before the daemon stops: what a test leaves running is removed
	// the agent's way, so no network (address, port rules) outlives it.
	t.Cleanup(func() { e.removeAll(t) })
	return e
}

// removeAll removes every workload the agent owns, and the networks of
// containers deleted by hand.
func (e *env) removeAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A client of its own: the test's clients are closed by now.
	c, err := New(ctx, Config{Address: e.d.Address, LogDir: e.logDir, RunDir: e.runDir, StopTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer c.Close()
	ins, err := c.List(ctx)
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, in := range ins {
		if err := c.Remove(ctx, in.Workload); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if err := c.sweepNetworks(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// unmountBelow detaches every mount below dir.
func unmountBelow(t *testing.T, dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// connect makes a new client, as an agent does when it starts.
func (e *env) connect(t *testing.T) *Containerd {
	t.Helper()
	c, err := New(t.Context(), Config{Address: e.d.Address, LogDir: e.logDir, RunDir: e.runDir, StopTimeout: 5 * time.Second},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pull pulls the echo image.
func (e *env) pull(t *testing.T) {
	t.Helper()
	if err := e.c.Pull(t.Context(), source(t, echo.ref, registries())); err != nil {
		t.Fatal(err)
	}
}

// desired is the echo workload serving on port, with its hash.
func desired(name string, port int, env map[string]string) spec.Desired {
	ws := spec.WorkloadSpec{
		Image: echo.ref,
		Args:  []string{"--port", fmt.Sprint(port)},
		Env:   env,
		Ports: []int{port},
	}
	return withHash(name, ws)
}

// withHash names ws as a workload, with the hash fleetd would give it.
func withHash(name string, ws spec.WorkloadSpec) spec.Desired {
	return spec.Desired{Name: name, Spec: ws, Hash: spec.HashSpec(ws)}
}

// waitLimit bounds every wait for an event in these tests. It only turns
// a hang into a failure that says what was awaited: waits return as soon
// as the event happens, and no test asserts how long one took.
const waitLimit = 2 * time.Minute

// get GETs path from the workload on port, waiting for it to serve. It
// returns the status code and body.
func get(t *testing.T, port int, path string) (int, string) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shims counts the runc shims serving daemon d.
func shims(t *testing.T, d *runtimetest.Daemon) int {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range procs {
		b, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cmd := strings.Split(string(b), "\x00")
		if strings.Contains(cmd[0], "containerd-shim") && strings.Contains(string(b), d.Address+"\x00") {
			n++
		}
	}
	return n
}
