package runtimetest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"golang.org/x/sys/unix"
)

func TestStartRestartStop(t *testing.T) {
	d, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		do   func() error
	}{{"serving", nil}, {"restart", d.Restart}} {
		if step.do != nil {
			if err := step.do(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
		}
		c, err := containerd.New(d.Address)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if ok, err := c.IsServing(t.Context()); !ok || err != nil {
			t.Errorf("%s: IsServing = %v, %v", step.name, ok, err)
		}
		c.Close()
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{d.Root, d.State, d.Address} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s left after Stop (%v)", dir, err)
		}
	}
}

func TestStartFailsWithoutBinary(t *testing.T) {
	if _, err := Start(Options{Binary: "/nonexistent/containerd"}); err == nil {
		t.Error("Start with a missing binary succeeded")
	}
}

// fakeShimEnv makes the test binary a stand-in for a shim that outlived
// its daemon's knowledge (TestMain): it starts a task process (sleep),
// prints its pid and waits.
const fakeShimEnv = "RUNTIMETEST_FAKE_SHIM"

func TestMain(m *testing.M) {
	if os.Getenv(fakeShimEnv) != "" {
		task := exec.Command("sleep", "600")
		if err := task.Start(); err != nil {
			os.Exit(1)
		}
		fmt.Println(task.Process.Pid)
		_ = task.Wait()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A shim serving the daemon's address that the daemon does not list (its
// task's create was never recorded) is killed by Stop, with its task's
// processes, instead of outliving the test.
func TestStopKillsShimsTheDaemonDoesNotKnow(t *testing.T) {
	d, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(t.TempDir(), "containerd-shim-runc-v2")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shim, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(shim, "-namespace", "test", "-id", "orphan", "-address", d.Address)
	cmd.Env = append(os.Environ(), fakeShimEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	taskPID, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	// Each process's exit is awaited through a pidfd opened before Stop:
	// the task process is not this test's child, and its pid cannot be
	// taken by another process meanwhile.
	shimFD, taskFD := pidfd(t, cmd.Process.Pid), pidfd(t, taskPID)
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		what string
		fd   int
	}{{"the shim", shimFD}, {"its task process", taskFD}} {
		if !exited(t, p.fd) {
			_ = cmd.Process.Kill()
			_ = syscall.Kill(taskPID, syscall.SIGKILL)
			t.Fatalf("%s still runs after Stop", p.what)
		}
	}
	_ = cmd.Wait()
}

// pidfd opens a pidfd of process pid, closed when t ends.
func pidfd(t *testing.T, pid int) int {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd of %d: %v", pid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// exited waits for the process behind fd to exit, until shortly before
// the test binary's deadline (no deadline: for as long as it takes), and
// says whether it did.
func exited(t *testing.T, fd int) bool {
	timeout := -1
	if d, ok := t.Deadline(); ok {
		timeout = max(int(time.Until(d).Milliseconds())-30_000, 0)
	}
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, timeout)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n == 1
	}
}
