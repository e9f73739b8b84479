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
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	// Killed, the shim is a zombie until reaped here; alive, it waits
	// for its task forever: look, rather than wait on it.
	for i := 0; !zombie(cmd.Process.Pid); i++ {
		if i == 1000 {
			_ = cmd.Process.Kill()
			_ = syscall.Kill(taskPID, syscall.SIGKILL)
			t.Fatal("the shim still runs after Stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Wait()
	// The task process was killed too: gone, or a zombie until init
	// reaps it (a loaded machine may take a moment to deliver the kill).
	for i := 0; !zombie(taskPID); i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", taskPID)); err != nil {
			break
		}
		if i == 1000 {
			_ = syscall.Kill(taskPID, syscall.SIGKILL)
			t.Fatalf("task process %d still runs after Stop", taskPID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// zombie reports whether process pid has exited and awaits its parent.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && strings.Contains(string(b), ") Z")
}
