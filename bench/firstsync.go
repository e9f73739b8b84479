package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/source"
)

// childEnv makes the bench binary run one first sync and exit.
const childEnv = "GITFLEET_BENCH_CHILD"

// childResult is what the child prints.
type childResult struct {
	Sync  time.Duration // New + Head + Tree + reads, in process
	Files int
	// PeakKiB is the child's own VmHWM. Its ru_maxrss would not do: the
	// kernel carries the parent's resident size over a fork-exec into it.
	PeakKiB int64
}

// firstSync measures an agent's first sync of the generated repo in a
// fresh process: New, Head, Tree, then reading fleet.yaml, workloads/,
// groups/ and one node's file; beside `git clone --depth 1`.
func firstSync(ctx context.Context, e *env) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	node := fmt.Sprintf("node-%05d", e.nodes/2+1)
	type row struct {
		name        string
		wall, inner []time.Duration
		rss, bytes  []int64
	}
	rows := []*row{{name: "`source`: New + Head + Tree + read the agent's files"}, {name: "`git clone --depth 1` (with checkout)"}, {name: "`git clone --depth 1 --bare`"}}
	for i := range e.n {
		dir := filepath.Join(e.tmp, fmt.Sprintf("sync-%d", i))
		cmds := []*exec.Cmd{
			exec.CommandContext(ctx, self),
			timed(gitCmd("", "clone", "-q", "--depth", "1", e.url, dir+"-clone")),
			timed(gitCmd("", "clone", "-q", "--bare", "--depth", "1", e.url, dir+"-bare")),
		}
		cmds[0].Env = append(os.Environ(), childEnv+"=1", "URL="+e.url, "DIR="+dir+"-source", "NODE="+node)
		for j, cmd := range cmds {
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			e.proxy.Take()
			start := time.Now()
			err := cmd.Run()
			wall := time.Since(start)
			if err != nil {
				return "", fmt.Errorf("%s: %v: %s", cmd.Args, err, out.String())
			}
			settle()
			r := rows[j]
			r.wall = append(r.wall, wall)
			r.bytes = append(r.bytes, e.proxy.Take())
			if j == 0 {
				var res childResult
				if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
					return "", fmt.Errorf("child output %q: %v", out.String(), err)
				}
				r.inner = append(r.inner, res.Sync)
				r.rss = append(r.rss, res.PeakKiB)
			} else {
				kib, err := timedPeak(out.String())
				if err != nil {
					return "", err
				}
				r.rss = append(r.rss, kib)
			}
		}
		for _, suffix := range []string{"-source", "-clone", "-bare"} {
			os.RemoveAll(dir + suffix)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## First sync of a %d-node fleet repo\n\n", e.nodes)
	b.WriteString("Each run is a fresh process with an empty state directory. Wall time is measured by the parent (process start included); peak RSS is the agent child's own `VmHWM`, and for `git clone` the maximum resident size GNU `time` reports over git and its helpers (`ru_maxrss` of a child started from Go would include the parent's size at the fork). The agent child is this bench binary, which links the containerd client like `fleetd` does, so its peak includes that baseline (about 25 MiB of touched binary pages). Smart HTTP through the proxy.\n\n")
	b.WriteString("| client | wall | in-process | peak RSS | bytes on the wire |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		inner := "–"
		if len(r.inner) > 0 {
			inner = ms(median(r.inner))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f MiB |\n", r.name, ms(median(r.wall)), inner, mib(median(r.rss)), float64(median(r.bytes))/(1<<20))
	}
	return b.String(), nil
}

// child runs one first sync as the agent would and prints a childResult.
func child() int {
	ctx := context.Background()
	start := time.Now()
	files, err := syncOnce(ctx, os.Getenv("URL"), os.Getenv("DIR"), os.Getenv("NODE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, hwm, _ := peakSelf()
	json.NewEncoder(os.Stdout).Encode(childResult{Sync: time.Since(start), Files: files, PeakKiB: hwm})
	return 0
}

func syncOnce(ctx context.Context, url, dir, node string) (int, error) {
	loc, err := source.ParseLocation(url, source.Auth{})
	if err != nil {
		return 0, err
	}
	g, err := source.New(source.Config{Location: loc, Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	head, err := g.Head(ctx)
	if err != nil {
		return 0, err
	}
	fsys, err := g.Tree(ctx, head)
	if err != nil {
		return 0, err
	}
	names := []string{"fleet.yaml", path.Join("nodes", node+".yaml")}
	for _, d := range []string{"workloads", "groups"} {
		ents, err := fs.ReadDir(fsys, d)
		if err != nil {
			return 0, err
		}
		for _, e := range ents {
			names = append(names, path.Join(d, e.Name()))
		}
	}
	for _, name := range names {
		if _, err := fs.ReadFile(fsys, name); err != nil {
			return 0, err
		}
	}
	return len(names), nil
}

// timed runs cmd under GNU time, which forks it from a small process and
// prints the maximum resident size (KiB) of it and its children last.
func timed(cmd *exec.Cmd) *exec.Cmd {
	cmd.Args = append([]string{"/usr/bin/time", "-f", "maxrss=%M"}, cmd.Args...)
	cmd.Path = "/usr/bin/time"
	return cmd
}

// timedPeak reads the figure timed's command printed.
func timedPeak(out string) (int64, error) {
	i := strings.LastIndex(out, "maxrss=")
	if i < 0 {
		return 0, fmt.Errorf("no maxrss in %q", out)
	}
	return strconv.ParseInt(strings.TrimSpace(out[i+len("maxrss="):]), 10, 64)
}

// peakSelf reads this process's VmRSS and VmHWM (KiB).
func peakSelf() (rss, hwm int64, err error) { return procMemory(os.Getpid()) }
