// Package sticktest makes USB sticks for tests: a filesystem image made
// with mkfs (ext4 or vfat) in the test's temp dir, loop-mounted where the
// test says, unmounted (lazily, as a stick pulled out) at cleanup.
//
// vfat is mounted by the kernel when it has the driver, else with fusefat
// (Debian's FUSE vfat driver), which keeps vfat's rules: no symbolic links,
// no permissions, names that differ only by case are the same name.
// Tests run as root; a missing tool fails the test.
package sticktest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FS is a stick's filesystem type.
type FS string

// The filesystems sticks are tested on.
const (
	Ext4 FS = "ext4"
	Vfat FS = "vfat"
)

// Stick is a filesystem image and where it is mounted.
type Stick struct {
	Image string
	FS    FS
	// Dir is the mount point; empty while unmounted.
	Dir string
	t   testing.TB
}

// New makes an empty filesystem of sizeMB megabytes. With populate set,
// an ext4 stick starts with that folder's contents (mkfs.ext4 -d).
func New(t testing.TB, fs FS, sizeMB int, populate string) *Stick {
	t.Helper()
	img := filepath.Join(t.TempDir(), "stick-"+string(fs)+".img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	switch fs {
	case Ext4:
		args := []string{"-q", "-F", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0"}
		if populate != "" {
			args = append(args, "-d", populate)
		}
		run(t, "mkfs.ext4", append(args, img)...)
	case Vfat:
		if populate != "" {
			t.Fatal("sticktest: populate is for ext4 only")
		}
		// 32 KiB clusters: fusefat cannot grow a folder past its first
		// cluster, and a stick's blob folder holds dozens of long names.
		run(t, "mkfs.vfat", "-s", "64", "-n", "USBSTICK", img)
	default:
		t.Fatalf("sticktest: unknown filesystem %q", fs)
	}
	return &Stick{Image: img, FS: fs, t: t}
}

// Mount mounts the stick at dir (made if missing) and unmounts it at the
// end of the test if it is still mounted.
func (s *Stick) Mount(dir string) {
	s.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	s.settle()
	start := time.Now()
	if err := s.mount(dir); err != nil {
		s.t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		s.t.Logf("sticktest: mounting %s took %s", s.Image, d.Round(time.Millisecond))
	}
	s.Dir = dir
	s.t.Cleanup(func() {
		if s.Dir != "" {
			_ = s.unmount(true)
		}
	})
}

func (s *Stick) mount(dir string) error {
	if s.FS == Ext4 || hasKernelFS("vfat") {
		out, err := exec.Command("mount", "-t", string(s.FS), "-o", "loop", s.Image, dir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mount %s: %v: %s", s.Image, err, out)
		}
		return nil
	}
	if _, err := exec.LookPath("fusefat"); err != nil {
		return fmt.Errorf("this kernel has no vfat driver and fusefat is not installed (Debian package fusefat): %w", err)
	}
	out, err := exec.Command("fusefat", "-o", "rw+", s.Image, dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusefat %s: %v: %s", s.Image, err, out)
	}
	// fusefat daemonizes; wait until the mount shows.
	for range 100 {
		if mounted(dir) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("fusefat %s: %s never showed as mounted", s.Image, dir)
}

// Unmount unmounts the stick cleanly (everything written reaches the image).
func (s *Stick) Unmount() {
	s.t.Helper()
	if err := s.unmount(false); err != nil {
		s.t.Fatal(err)
	}
}

// Pull detaches the stick at once, as pulling it out does: a lazy unmount
// (umount -l); writers still inside see their files vanish from the path.
func (s *Stick) Pull() {
	s.t.Helper()
	if err := s.unmount(true); err != nil {
		s.t.Fatal(err)
	}
}

// Yank cuts the stick off at once, as pulling out a stick that is being
// read does: a vfat stick's fusefat process is killed (reads fail from
// then on), then the mount is detached lazily. An ext4 stick is detached
// lazily only: the kernel keeps serving files already open.
func (s *Stick) Yank() {
	s.t.Helper()
	if s.FS == Vfat && !hasKernelFS("vfat") {
		out, _ := exec.Command("pgrep", "-f", "fusefat.* "+s.Image).Output()
		for _, pid := range strings.Fields(string(out)) {
			_ = exec.Command("kill", "-KILL", pid).Run()
		}
	}
	if err := s.unmount(true); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Stick) unmount(lazy bool) error {
	args := []string{s.Dir}
	if lazy {
		args = []string{"-l", s.Dir}
	}
	var last []byte
	for range 50 {
		out, err := exec.Command("umount", args...).CombinedOutput()
		if err == nil {
			s.Dir = ""
			if s.FS == Vfat && !hasKernelFS("vfat") {
				// fusefat writes its FAT on exit; wait for it.
				waitNoProcess(s.Image)
			}
			return nil
		}
		last = out
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("umount %s: %s", s.Dir, last)
}

// Fsck checks the image's filesystem (unmounted) and returns fsck's report;
// an error means the filesystem is damaged.
func (s *Stick) Fsck() (string, error) {
	s.settle()
	var cmd *exec.Cmd
	if s.FS == Ext4 {
		cmd = exec.Command("fsck.ext4", "-f", "-n", s.Image)
	} else {
		cmd = exec.Command("fsck.vfat", "-n", s.Image)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func hasKernelFS(name string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// settle waits until nothing holds the image any more: after a lazy
// unmount the filesystem lives on until its last user lets go, then its
// loop device (or fusefat process) goes.
func (s *Stick) settle() {
	if s.FS == Vfat && !hasKernelFS("vfat") {
		waitNoProcess(s.Image)
		return
	}
	for range 200 {
		out, _ := exec.Command("losetup", "-j", s.Image).Output()
		if len(bytes.TrimSpace(out)) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitNoProcess waits until no fusefat process serves image.
func waitNoProcess(image string) {
	for range 100 {
		out, _ := exec.Command("pgrep", "-f", "fusefat.* "+image).Output()
		if len(bytes.TrimSpace(out)) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
