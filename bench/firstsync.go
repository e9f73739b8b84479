package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// firstSyncSizes are the fleets the first sync is measured on.
var firstSyncSizes = []int{1000, 10000, 50000, 100000}

// syncResult is what bench/syncchild prints.
type syncResult struct {
	Sync    time.Duration
	Files   int
	PeakKiB int64
}

// firstSync measures an agent's first sync (bench/syncchild: source.New,
// Head, Tree, reading fleet.yaml, workloads/, groups/ and its own node
// file) of fleets of each size in firstSyncSizes, beside `git clone
// --depth 1 --bare` of the same repository and the same sync fetching
// every file of the commit (what fleetd did before Config.Node), run by
// turns.
func firstSync(ctx context.Context, e *env) (string, error) {
	child := filepath.Join(e.tmp, "syncchild")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", child, "github.com/gitfleet/gitfleet/bench/syncchild").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build syncchild: %v: %s", err, out)
	}
	type client struct {
		name       string
		wall, rss  []int64 // ms·1000 (µs) and KiB
		bytes      []int64
		whole, git bool
	}
	var b strings.Builder
	b.WriteString("## First sync: memory and time by fleet size\n\n")
	fmt.Fprintf(&b, "Each fleet repo is generated like the fixture above (node files as deltas of one another, as `git fast-import` packs them) and served the same way. Every run is a fresh process with an empty state directory, the clients taking turns, %d runs each; medians. The agent's sync is `bench/syncchild`, a program that links only `source` and does what fleetd's first pass does with the repo: `source.New` with `Config.Node`, `Head`, `Tree`, then reading `fleet.yaml`, `workloads/`, `groups/` and `nodes/<node>.yaml`. Its peak is its own `VmHWM` (Go runtime and binary pages included, nothing else linked). \"Whole tree\" is the same program fetching every file of the commit (no `Config.Node`: go-git indexes the whole pack), which is what fleetd did before. `git clone --depth 1 --bare`'s peak is GNU time's maximum resident size over git and its helpers. Wall is measured by the parent, process start included.\n\n", e.n)
	b.WriteString("| nodes | agent's sync: wall | peak RSS | whole tree (before): wall | peak RSS | `git clone --depth 1 --bare`: wall | peak RSS | agent ÷ clone (wall) | pack on the wire |\n|---|---|---|---|---|---|---|---|---|\n")
	var peaks []int64
	met := true
	for _, nodes := range firstSyncSizes {
		name := fmt.Sprintf("sync-%d.git", nodes)
		bare := filepath.Join(filepath.Dir(e.bare), name)
		if _, err := generateFleet(bare, nodes); err != nil {
			return "", err
		}
		url := "http://" + e.proxy.Addr() + "/" + name
		node := fmt.Sprintf("node-%05d", nodes/2+1)
		clients := []*client{{name: "agent"}, {name: "whole", whole: true}, {name: "git", git: true}}
		for i := range e.n {
			for _, c := range clients {
				dir := filepath.Join(e.tmp, fmt.Sprintf("first-%d-%s-%d", nodes, c.name, i))
				var cmd *exec.Cmd
				if c.git {
					cmd = timed(gitCmd("", "clone", "-q", "--bare", "--depth", "1", url, dir))
				} else {
					cmd = exec.CommandContext(ctx, child)
					cmd.Env = append(os.Environ(), "URL="+url, "DIR="+dir, "NODE="+node)
					if c.whole {
						cmd.Env = append(cmd.Env, "WHOLE=1")
					}
				}
				var out strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &out
				e.proxy.Take()
				start := time.Now()
				err := cmd.Run()
				wall := time.Since(start)
				if err != nil {
					return "", fmt.Errorf("%d nodes, %s: %v: %s", nodes, cmd.Args, err, out.String())
				}
				settle()
				c.wall = append(c.wall, wall.Microseconds())
				c.bytes = append(c.bytes, e.proxy.Take())
				var kib int64
				if c.git {
					if kib, err = timedPeak(out.String()); err != nil {
						return "", err
					}
				} else {
					var res syncResult
					if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
						return "", fmt.Errorf("syncchild output %q: %v", out.String(), err)
					}
					kib = res.PeakKiB
				}
				c.rss = append(c.rss, kib)
				os.RemoveAll(dir)
			}
		}
		os.RemoveAll(bare)
		agent, whole, clone := clients[0], clients[1], clients[2]
		ratio := float64(median(agent.wall)) / float64(median(clone.wall))
		met = met && ratio <= 1
		peaks = append(peaks, median(agent.rss))
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %.2f | %.2f MiB |\n", nodes,
			us(median(agent.wall)), mib(median(agent.rss)), us(median(whole.wall)), mib(median(whole.rss)),
			us(median(clone.wall)), mib(median(clone.rss)), ratio, float64(median(clone.bytes))/(1<<20))
	}
	lo, hi := slices.Min(peaks), slices.Max(peaks)
	spread := float64(hi-lo) / float64(lo) * 100
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	fmt.Fprintf(&b, "\nTargets: the agent's peak RSS within 10 %% across the sizes: %s (%s to %s, %.1f %% apart); its wall at most the bare clone's at each size: %s.\n",
		verdict(spread <= 10), mib(lo), mib(hi), spread, verdict(met))
	b.WriteString("\nWhat the agent does: the depth-1 pack is written to a file as it arrives and read while it arrives (the hashing and storing overlap the transfer); each object is inflated and hashed once, delta bases coming from a ring of the last 32 objects (git writes a delta next to its base; a base that left the ring is read again from the file); only the objects the node reads are kept, as loose objects, and a tree larger than 256 KiB (the `nodes/` folder) is streamed to disk while it is hashed and later searched entry by entry. Nothing is held per object of the pack, so the memory is the same for 1,000 or 100,000 nodes. Rollout waves, which count the nodes a group selects, read the other nodes' files: the first such read fetches the commit whole.\n")
	return b.String(), nil
}

func us(v int64) string { return fmt.Sprintf("%.1f ms", float64(v)/1000) }

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
