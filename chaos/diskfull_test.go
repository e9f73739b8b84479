package chaos

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// loopFS makes a small ext4 filesystem in a file, mounts it through a
// loop device and returns the mount point; it is unmounted and the device
// detached at the end of t. It needs root, mkfs.ext4 and losetup: without
// them the test fails.
func loopFS(t *testing.T, mib int) string {
	t.Helper()
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(mib) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run("mkfs.ext4", "-q", "-F", img)
	dev := run("losetup", "--find", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	run("mount", dev, mnt)
	t.Cleanup(func() {
		// Lazily: a network namespace bound under the state dir by a
		// workload the test could not remove must not keep it mounted.
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}

// fill writes a file into dir until the filesystem refuses (ENOSPC) and
// returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", dir, err)
				}
				break
			}
		}
	}
	f.Sync()
	return path
}

// TestStateDirFull: fleetd's state dir is on a small loop-mounted ext4.
// For each point a change is committed and the filesystem is filled up
// (as root, reserved blocks included); passes fail meanwhile, the
// workloads keep running; then the space is freed, and the first pass
// after must converge.
func TestStateDirFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 7))
	mnt := loopFS(t, 64)
	n := newNode(t, filepath.Join(mnt, "state"))
	v1 := n.modelImage("models/defect", "defect-v1.json")
	var filler string
	levels := []string{"debug", "info"}
	runOutage(t, n, rng, outage{title: "state dir on a 64 MiB ext4 filled up, then space freed",
		on:    func() { filler = fill(t, mnt) },
		again: func() { fill(t, mnt) },
		off: func() {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		},
		change: func(i int) (string, workloads) {
			return "change env", workloads{"defect": {v1, levels[i%2]}}
		}})
}
