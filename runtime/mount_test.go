package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/internal/porttest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// hostTree is an allowed host path and a secret outside it, as on a node
// whose /etc a planted link would reach.
type hostTree struct {
	root, secret string
}

func newHostTree(t *testing.T) hostTree {
	t.Helper()
	h := hostTree{root: t.TempDir(), secret: t.TempDir()}
	if err := os.WriteFile(filepath.Join(h.secret, "shadow"), []byte("root:secret-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(h.root, "models", "v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "models", "v1", "weights"), []byte("w1"), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// mounted is the echo workload on port with one mount of source at /data.
func mounted(name string, port int, source string, hostPaths ...string) spec.Desired {
	d := desired(name, port, nil)
	d.Spec.Mounts = []spec.Mount{{Source: source, Target: "/data", ReadOnly: true}}
	d = withHash(d.Name, d.Spec)
	d.HostPaths = hostPaths
	return d
}

// A link anywhere below an allowed host path refuses the mount, naming the
// workload, the mount and the link, and nothing is created.
func TestMountThroughLinkRefused(t *testing.T) {
	e := setup(t)
	e.pull(t)
	h := newHostTree(t)
	if err := os.Symlink(h.secret, filepath.Join(h.root, "etc-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(h.root, "models"), filepath.Join(h.root, "inner-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(h.secret, "shadow"), filepath.Join(h.root, "models", "v1", "file-link")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, source, component string
	}{
		{"last component", filepath.Join(h.root, "etc-link"), filepath.Join(h.root, "etc-link")},
		{"middle component", filepath.Join(h.root, "etc-link", "sub"), filepath.Join(h.root, "etc-link")},
		{"link within the root", filepath.Join(h.root, "inner-link", "v1"), filepath.Join(h.root, "inner-link")},
		{"link to a file", filepath.Join(h.root, "models", "v1", "file-link"), filepath.Join(h.root, "models", "v1", "file-link")},
		{"missing", filepath.Join(h.root, "models", "v2"), filepath.Join(h.root, "models", "v2")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := mounted("linked", porttest.Port(t), c.source, h.root)
			err := e.c.Run(t.Context(), d, "rev1")
			var me *MountError
			if !errors.As(err, &me) {
				t.Fatalf("Run: %v, want a *MountError", err)
			}
			for _, want := range []string{"workload linked", c.source + " -> /data", c.component} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run: %v, want it to name %q", err, want)
				}
			}
			if me.Component != c.component {
				t.Errorf("Component = %q, want %q", me.Component, c.component)
			}
			if fault.ClassOf(err) != fault.Refused {
				t.Errorf("class %v, want refused", fault.ClassOf(err))
			}
			if ins := e.list(t); len(ins) != 0 {
				t.Errorf("List after a refused mount = %+v, want nothing", ins)
			}
		})
	}

	t.Run("not below a host path", func(t *testing.T) {
		d := mounted("linked", porttest.Port(t), h.secret, h.root)
		var me *MountError
		if err := e.c.Run(t.Context(), d, "rev1"); !errors.As(err, &me) || !strings.Contains(err.Error(), h.secret) {
			t.Fatalf("Run: %v, want a *MountError naming %s", err, h.secret)
		}
	})
}

// Every start opens the sources again: a directory replaced by a link
// after the container first started is refused when the Supervisor
// restarts the task, and the running container never sees the link's
// target.
func TestMountCheckedAgainAtRestart(t *testing.T) {
	e := setup(t)
	e.pull(t)
	h := newHostTree(t)
	port := porttest.Port(t)
	source := filepath.Join(h.root, "models", "v1")
	d := mounted("models", port, source, h.root)
	e.run(t, d, "rev1")
	if code, body := get(t, port, "/read?path=/data/weights"); code != 200 || body != "w1" {
		t.Fatalf("read through the mount: %d %q", code, body)
	}

	// A workload with a writable mount of the root plants a link where
	// the directory was.
	if err := os.Rename(source, filepath.Join(h.root, "models", "v1-moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(h.secret, source); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, port, "/read?path=/data/shadow"); code == 200 || strings.Contains(body, "secret-hash") {
		t.Errorf("running container reads the link's target: %d %q", code, body)
	}
	if code, body := get(t, port, "/read?path=/data/weights"); code != 200 || body != "w1" {
		t.Errorf("running container lost its bound directory: %d %q", code, body)
	}

	in := e.only(t, d)
	stopByHand(t, e, in.ID)
	b := &containerdBackend{c: e.c}
	_, _, err := b.restart(t.Context(), in.ID, 1, nil)
	var me *MountError
	if !errors.As(err, &me) || me.Component != source || me.Workload != "models" {
		t.Fatalf("restart after the swap: %v, want a *MountError naming %s", err, source)
	}
	if in := e.only(t, d); in.State == status.StateRunning {
		t.Errorf("after a refused restart: %+v, want not running", in)
	}

	// The directory back in place: the next restart serves it again.
	if err := os.Remove(source); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(h.root, "models", "v1-moved"), source); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := b.restart(t.Context(), in.ID, 1, nil); err != nil || !ok {
		t.Fatalf("restart with the directory back: %v, %v", ok, err)
	}
	if code, body := get(t, port, "/read?path=/data/weights"); code != 200 || body != "w1" {
		t.Errorf("read after the restart: %d %q", code, body)
	}
	if err := e.c.Remove(t.Context(), d.Name); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(e.c.mountDir()); err != nil || len(entries) != 0 {
		t.Errorf("mount staging after Remove: %v %v, want empty", entries, err)
	}
	if b, err := os.ReadFile(filepath.Join(source, "weights")); err != nil || string(b) != "w1" {
		t.Errorf("host file after Remove: %q %v, want it untouched", b, err)
	}
}

// stopByHand kills and deletes a container's task, as a crash would leave
// it for the Supervisor.
func stopByHand(t *testing.T, e *env, id string) {
	t.Helper()
	ctx := e.c.ns(t.Context())
	ctr, err := e.c.client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.stopTask(ctx, ctr); err != nil {
		t.Fatal(err)
	}
	e.c.setStopping(id, false)
}
