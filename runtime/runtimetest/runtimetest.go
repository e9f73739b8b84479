// Package runtimetest starts a private containerd for tests and demos: its
// own root, state, socket and config, so it never touches the host's
// containerd, and a Stop that leaves no task, shim or mount behind.
//
// It needs root, containerd and runc. A test that cannot start containerd
// fails; it is never skipped.
package runtimetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
)

// Options configures a private containerd. Every field is optional.
type Options struct {
	// Dir holds root, state, socket and config. Default: a new directory
	// under os.TempDir(), removed by Stop. Keep it short: the socket path
	// must fit in about 100 bytes.
	Dir string
	// Binary is the containerd executable. Default "containerd" from PATH.
	Binary string
	// Log receives the daemon's output. Default: <Dir>/containerd.log.
	Log io.Writer
	// StartTimeout bounds the wait for the socket. Default 2m.
	StartTimeout time.Duration
}

// Daemon is a running private containerd.
type Daemon struct {
	// Address is the daemon's gRPC socket.
	Address string
	// Root and State are the daemon's persistent and runtime directories.
	Root, State string

	dir, config, binary string
	ownDir              bool
	logPath             string
	log                 io.Writer
	logFile             *os.File
	timeout             time.Duration
	cmd                 *exec.Cmd
	exited              chan struct{}
}

// disabled lists the plugins a private daemon does not need: CRI (it wants
// CNI and its own ports), the snapshotters that need other filesystems,
// tracing, the restart monitor (restart policy is the agent's) and /opt.
// The v1 linux runtime stays: containerd 1.6's tasks service requires it.
var disabled = []string{
	"io.containerd.grpc.v1.cri",
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
	"io.containerd.internal.v1.restart",
	"io.containerd.internal.v1.opt",
}

const configTemplate = `version = 2
root = %q
state = %q
disabled_plugins = [%s]
oom_score = 0

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""
`

// Start starts a private containerd and waits until it serves.
func Start(opts Options) (*Daemon, error) {
	d := &Daemon{dir: opts.Dir, binary: opts.Binary, log: opts.Log, timeout: opts.StartTimeout}
	if d.binary == "" {
		d.binary = "containerd"
	}
	if d.timeout == 0 {
		d.timeout = 2 * time.Minute // a bound for a hang, not a target: machines are shared
	}
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "ctd")
		if err != nil {
			return nil, err
		}
		d.dir, d.ownDir = dir, true
	}
	d.Root = filepath.Join(d.dir, "root")
	d.State = filepath.Join(d.dir, "state")
	d.Address = filepath.Join(d.dir, "c.sock")
	d.config = filepath.Join(d.dir, "config.toml")
	if len(d.Address)+len(".ttrpc") > 100 {
		return nil, fmt.Errorf("runtimetest: socket path %s too long", d.Address)
	}
	quoted := make([]string, len(disabled))
	for i, p := range disabled {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	conf := fmt.Sprintf(configTemplate, d.Root, d.State, strings.Join(quoted, ", "), d.Address, d.Address+".ttrpc")
	if err := os.WriteFile(d.config, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if d.log == nil {
		d.logPath = filepath.Join(d.dir, "containerd.log")
		f, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		d.log, d.logFile = f, f
	}
	if err := d.start(); err != nil {
		return nil, errors.Join(err, d.cleanup())
	}
	return d, nil
}

// StartT starts a private containerd stopped at the end of t. It fails t
// when containerd cannot start.
func StartT(t testing.TB) *Daemon {
	t.Helper()
	d, err := Start(Options{})
	if err != nil {
		t.Fatalf("runtimetest: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("runtimetest: stop: %v", err)
		}
	})
	return d
}

// start runs the daemon process and waits for its socket.
func (d *Daemon) start() error {
	cmd := exec.Command(d.binary, "--config", d.config)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	// Its own process group: a signal to the test's group must not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("runtimetest: start containerd: %w", err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(d.exited) }()

	deadline := time.Now().Add(d.timeout)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("runtimetest: containerd exited: %v%s", cmd.ProcessState, d.tail())
		default:
		}
		if d.serving() {
			return nil
		}
		if time.Now().After(deadline) {
			_ = d.StopProcess()
			return fmt.Errorf("runtimetest: containerd not serving on %s after %s%s", d.Address, d.timeout, d.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serving reports whether the daemon answers on its socket.
func (d *Daemon) serving() bool {
	if _, err := os.Stat(d.Address); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := containerd.New(d.Address, containerd.WithTimeout(time.Second))
	if err != nil {
		return false
	}
	defer c.Close()
	ok, err := c.IsServing(ctx)
	return err == nil && ok
}

// tail returns the end of the daemon's log for error messages.
func (d *Daemon) tail() string {
	if d.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "\n" + string(b)
}

// Restart stops the daemon process only (tasks keep running under their
// shims; root and state stay) and starts it again with the same directories.
func (d *Daemon) Restart() error {
	if err := d.StopProcess(); err != nil {
		return err
	}
	return d.StartProcess()
}

// StopProcess stops the daemon process only: SIGTERM, then SIGKILL after
// 10 s. Tasks keep running under their shims; root and state stay.
func (d *Daemon) StopProcess() error {
	if d.cmd == nil {
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
	return nil
}

// KillProcess kills the daemon process with SIGKILL, as a crash or the
// OOM killer would, and waits for it to exit. Tasks keep running under
// their shims; root and state stay.
func (d *Daemon) KillProcess() error {
	if d.cmd == nil {
		return nil
	}
	if err := d.cmd.Process.Kill(); err != nil {
		return err
	}
	<-d.exited
	d.cmd = nil
	return nil
}

// StartProcess starts the daemon process again after StopProcess, with the
// same directories, and waits until it serves.
func (d *Daemon) StartProcess() error {
	if d.cmd != nil {
		return errors.New("runtimetest: containerd is running")
	}
	return d.start()
}

// Stop kills every task in every namespace (so no shim or container process
// lingers), stops containerd, unmounts whatever is left under its
// directories and removes them.
func (d *Daemon) Stop() error {
	var errs []error
	if d.cmd != nil {
		errs = append(errs, d.killTasks())
	}
	errs = append(errs, d.StopProcess(), d.killShims(), d.cleanup())
	return errors.Join(errs...)
}

// killShims kills the shims still serving this daemon's address, and
// their tasks' processes: a task whose create a killed daemon never
// recorded keeps its shim, which the daemon neither lists nor deletes, and
// it would outlive the test.
func (d *Daemon) killShims() error {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("runtimetest: list processes: %w", err)
	}
	shims := map[int]bool{}
	parents := map[int]int{} // pid → parent pid
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat")); err == nil {
			// pid (comm) state ppid …; comm may hold spaces and parentheses.
			if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 1 {
				parents[pid], _ = strconv.Atoi(f[1])
			}
		}
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		if i := slices.Index(args, "-address"); i >= 0 && i+1 < len(args) && args[i+1] == d.Address {
			shims[pid] = true
		}
	}
	// Their tasks' processes first (a shim's children), then the shims.
	for pid, parent := range parents {
		if shims[parent] {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for pid := range shims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

// killTasks kills and deletes every task the daemon knows.
func (d *Daemon) killTasks() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := containerd.New(d.Address, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("runtimetest: connect: %w", err)
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("runtimetest: namespaces: %w", err)
	}
	var errs []error
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctrs, err := c.Containers(nctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ctr := range ctrs {
			task, err := ctr.Task(nctx, nil)
			if err != nil {
				continue // no task
			}
			if _, err := task.Delete(nctx, containerd.WithProcessKill); err != nil {
				errs = append(errs, fmt.Errorf("runtimetest: delete task %s/%s: %w", ns, ctr.ID(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// cleanup unmounts everything under the daemon's directory and removes it
// when Start created it.
func (d *Daemon) cleanup() error {
	var errs []error
	mounts, err := mountsUnder(d.dir)
	if err != nil {
		errs = append(errs, err)
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("runtimetest: unmount %s: %w", mounts[i], err))
		}
	}
	if d.logFile != nil {
		_ = d.logFile.Close()
		d.logFile = nil
	}
	if d.ownDir {
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points at or below dir, in mount order.
func mountsUnder(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + c - '0'
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
