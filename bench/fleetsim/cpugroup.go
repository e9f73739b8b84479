package fleetsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPUGroup is a cgroup holding a server's processes and every process
// they start (nginx, fcgiwrap, git http-backend, upload-pack,
// receive-pack), for their CPU time: cgroup v1's cpuacct, else cgroup
// v2's cpu.stat. The fleet simulation and the bench's poll paths share it.
type CPUGroup struct {
	dir string
	v2  bool
	// prio is the group in cgroup v1's cpu controller (Prioritize); ""
	// when none or when dir (v2) carries the weight itself.
	prio string
}

// NewCPUGroup creates the group name and moves pids into it. On error
// nothing is left behind and the group is nil.
func NewCPUGroup(name string, pids []int) (*CPUGroup, error) {
	g := &CPUGroup{dir: filepath.Join("/sys/fs/cgroup/cpuacct", name)}
	if _, err := os.Stat(filepath.Dir(g.dir)); err != nil {
		g.v2 = true
		g.dir = filepath.Join("/sys/fs/cgroup", name)
		if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
			g.dir = filepath.Join("/sys/fs/cgroup/unified", name)
		}
	}
	if err := os.Mkdir(g.dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup for the server's CPU time: %w", err)
	}
	for _, pid := range pids {
		if err := os.WriteFile(filepath.Join(g.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			g.Close()
			return nil, fmt.Errorf("move %d into %s: %w", pid, g.dir, err)
		}
	}
	return g, nil
}

// Usage is the CPU time the group's processes used so far, those that
// exited included.
func (g *CPUGroup) Usage() (time.Duration, error) {
	if g == nil {
		return 0, errors.New("no cgroup for the server's CPU time")
	}
	if !g.v2 {
		b, err := os.ReadFile(filepath.Join(g.dir, "cpuacct.usage"))
		if err != nil {
			return 0, err
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(ns), err
	}
	b, err := os.ReadFile(filepath.Join(g.dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Duration(us) * time.Microsecond, err
		}
	}
	return 0, fmt.Errorf("%s/cpu.stat has no usage_usec", g.dir)
}

// Prioritize gives the group's processes (and those they start) weight
// times the CPU share of a process outside it when both want the cores:
// cgroup v1's cpu.shares (1024 a process), else v2's cpu.weight (100). It
// models a server that has a machine of its own on a machine it shares.
func (g *CPUGroup) Prioritize(weight int, pids []int) error {
	if !g.v2 {
		g.prio = filepath.Join("/sys/fs/cgroup/cpu", filepath.Base(g.dir))
		if err := os.Mkdir(g.prio, 0o755); err != nil {
			g.prio = ""
			return fmt.Errorf("cgroup for the server's CPU priority: %w", err)
		}
		if err := os.WriteFile(filepath.Join(g.prio, "cpu.shares"), []byte(strconv.Itoa(1024*weight)), 0o644); err != nil {
			return err
		}
		for _, pid := range pids {
			if err := os.WriteFile(filepath.Join(g.prio, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
				return fmt.Errorf("move %d into %s: %w", pid, g.prio, err)
			}
		}
		return nil
	}
	return os.WriteFile(filepath.Join(g.dir, "cpu.weight"), []byte(strconv.Itoa(100*weight)), 0o644)
}

// Close removes the group once its processes have ended (up to 5 s). A
// nil group is fine.
func (g *CPUGroup) Close() {
	if g == nil {
		return
	}
	for _, dir := range []string{g.prio, g.dir} {
		if dir == "" {
			continue
		}
		for range 50 {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
