package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/source"
)

// noopPoll measures the poll that finds nothing new: source.Git.Head
// beside `git ls-remote` against the same server, through the same proxy.
func noopPoll(ctx context.Context, e *env) (string, error) {
	loc, err := source.ParseLocation(e.url, source.Auth{})
	if err != nil {
		return "", err
	}
	g, err := source.New(source.Config{Location: loc, Dir: filepath.Join(e.tmp, "noop-state")}, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	// One poll first, as an agent that has been running would have done.
	if _, err := g.Head(ctx); err != nil {
		return "", err
	}
	settle()
	e.proxy.Take()

	var walls, lsWalls []time.Duration
	var bytes, lsBytes, allocs, allocBytes []int64
	for range e.n {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		head, err := g.Head(ctx)
		walls = append(walls, time.Since(start))
		runtime.ReadMemStats(&after)
		if err != nil {
			return "", err
		}
		if head != e.head {
			return "", fmt.Errorf("source.Git.Head = %s, want %s", head, e.head)
		}
		allocs = append(allocs, int64(after.Mallocs-before.Mallocs))
		allocBytes = append(allocBytes, int64(after.TotalAlloc-before.TotalAlloc))
		settle()
		bytes = append(bytes, e.proxy.Take())

		start = time.Now()
		out, err := gitCmd("", "ls-remote", e.url, "refs/heads/main").CombinedOutput()
		lsWalls = append(lsWalls, time.Since(start))
		if err != nil {
			return "", fmt.Errorf("git ls-remote: %v: %s", err, out)
		}
		if !strings.HasPrefix(string(out), e.head) {
			return "", fmt.Errorf("git ls-remote = %q, want %s", out, e.head)
		}
		settle()
		lsBytes = append(lsBytes, e.proxy.Take())
	}
	var b strings.Builder
	b.WriteString("## No-op poll (branch unchanged)\n\n")
	b.WriteString("Smart HTTP; bytes are both directions on the wire (HTTP headers included), counted by the proxy. `source.Git.Head` is in-process and reuses its keep-alive connection between polls; `git ls-remote` is a new process and connection each time (protocol v2, so it asks for `refs/heads/main` only).\n\n")
	b.WriteString("| client | wall | bytes on the wire | allocations |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| `source.Git.Head` | %s | %d B | %d allocs, %.1f KiB |\n", ms(median(walls)), median(bytes), median(allocs), float64(median(allocBytes))/1024)
	fmt.Fprintf(&b, "| `git ls-remote URL refs/heads/main` | %s | %d B | (separate process) |\n", ms(median(lsWalls)), median(lsBytes))
	return b.String(), nil
}
