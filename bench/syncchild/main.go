// Command syncchild is an agent's first sync and nothing else, for the
// bench's first-sync section: source.New, Head and Tree of the fleet repo
// at URL into the empty state directory DIR, then reading fleet.yaml,
// workloads/, groups/ and nodes/<NODE>.yaml, as fleetd's first pass reads
// them. WHOLE=1 fetches every file of the commit (source.Config without
// Node, as fleetd did before). It prints a JSON line: the sync's time,
// the files read and its own peak resident size (VmHWM, KiB). It links
// only source, so its peak is the sync's and the Go runtime's, not that
// of code the sync never runs.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/source"
)

// Result is what syncchild prints.
type Result struct {
	Sync    time.Duration
	Files   int
	PeakKiB int64
}

func main() {
	start := time.Now()
	files, err := sync(context.Background(), os.Getenv("URL"), os.Getenv("DIR"), os.Getenv("NODE"), os.Getenv("WHOLE") == "1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncchild:", err)
		os.Exit(1)
	}
	res := Result{Sync: time.Since(start), Files: files}
	if res.PeakKiB, err = peak(); err != nil {
		fmt.Fprintln(os.Stderr, "syncchild:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

func sync(ctx context.Context, url, dir, node string, whole bool) (int, error) {
	loc, err := source.ParseLocation(url, source.Auth{})
	if err != nil {
		return 0, err
	}
	cfg := source.Config{Location: loc, Dir: dir, Node: node}
	if whole {
		cfg.Node = ""
	}
	g, err := source.New(cfg, slog.New(slog.DiscardHandler))
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

// peak reads this process's VmHWM (KiB). Its ru_maxrss would not do: the
// kernel carries the parent's resident size over a fork-exec into it.
func peak() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
