package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Idle memory: how long the agent idles before sampling, and how often it
// is sampled over the last minute of that.
const (
	idleBefore   = 2 * time.Minute
	idleSampling = 5 * time.Second
	idleSampled  = time.Minute
	idleTarget   = 25 * 1000 * 1000 // bytes of VmRSS
)

// memSample is one reading of a process's memory (KiB), from
// /proc/<pid>/status and /proc/<pid>/smaps_rollup.
type memSample struct {
	rss, anon, file, hwm  int64 // VmRSS, RssAnon, RssFile, VmHWM
	pss, pssAnon, pssFile int64 // Pss, Pss_Anon, Pss_File
}

func readMemory(pid int) (memSample, error) {
	st, err := procFields(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memSample{}, err
	}
	ro, err := procFields(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memSample{}, err
	}
	return memSample{rss: st["VmRSS:"], anon: st["RssAnon:"], file: st["RssFile:"], hwm: st["VmHWM:"],
		pss: ro["Pss:"], pssAnon: ro["Pss_Anon:"], pssFile: ro["Pss_File:"]}, nil
}

// idleMemory runs the real agent with one health-checked workload, makes it
// replace that workload n times (pulls are cached, passes and probes run),
// lets it idle with a no-op poll every second, and reads its memory as
// the kernel accounts it: nothing is paged out or released before a
// sample.
func idleMemory(ctx context.Context, e *env) (string, error) {
	l, err := newLive(ctx, e, liveOptions{name: "idle", workloads: 1, health: true, interval: time.Second})
	if err != nil {
		return "", err
	}
	defer l.close()
	for i := range e.n {
		rev, _, err := l.commit(i+1, false)
		if err != nil {
			return "", err
		}
		if _, err := l.waitRevision(ctx, 0, rev, ""); err != nil {
			return "", err
		}
		if err := l.waitHealthy(ctx); err != nil {
			return "", err
		}
	}
	pid := l.agent.Process.Pid
	if err := sleepCtx(ctx, idleBefore-idleSampled); err != nil {
		return "", err
	}
	cpuBefore, err := procCPU(pid)
	if err != nil {
		return "", err
	}
	sampleStart := time.Now()
	var samples []memSample
	for len(samples) == 0 || time.Duration(len(samples)-1)*idleSampling < idleSampled {
		s, err := readMemory(pid)
		if err != nil {
			return "", err
		}
		samples = append(samples, s)
		if err := sleepCtx(ctx, idleSampling); err != nil {
			return "", err
		}
	}
	cpuAfter, err := procCPU(pid)
	if err != nil {
		return "", err
	}
	cpu := float64(cpuAfter-cpuBefore) / float64(time.Since(sampleStart)) * 100
	pick := func(f func(memSample) int64) (med, hi int64) {
		var xs []int64
		for _, s := range samples {
			xs = append(xs, f(s))
		}
		slices.Sort(xs)
		return xs[len(xs)/2], xs[len(xs)-1]
	}
	row := func(b *strings.Builder, what string, f func(memSample) int64) {
		med, hi := pick(f)
		fmt.Fprintf(b, "| %s | %s | %s |\n", what, mib(med), mib(hi))
	}

	var b strings.Builder
	b.WriteString("## Idle agent memory\n\n")
	fmt.Fprintf(&b, "The real `fleetd` (a no-op poll every second) with one workload whose HTTP health check runs every 10 s, after %d updates of that workload; sampled every %s over the last %s of %s idle, as the kernel accounts it (`/proc/<pid>/status`, `/proc/<pid>/smaps_rollup`). Nothing is paged out or handed back before a sample. fleetd is built as `make release` builds it (static, stripped), so PSS, which divides shared pages among the processes that map them, counts its own pages only.\n\n",
		e.n, idleSampling, idleSampled, idleBefore)
	b.WriteString("| measure | median | highest sample |\n|---|---|---|\n")
	row(&b, "resident (VmRSS)", func(s memSample) int64 { return s.rss })
	row(&b, "anonymous resident (RssAnon: heap, stacks, runtime)", func(s memSample) int64 { return s.anon })
	row(&b, "file-backed resident (RssFile: the binary's pages)", func(s memSample) int64 { return s.file })
	row(&b, "proportional (PSS)", func(s memSample) int64 { return s.pss })
	row(&b, "of which anonymous (Pss_Anon)", func(s memSample) int64 { return s.pssAnon })
	row(&b, "of which file-backed (Pss_File)", func(s memSample) int64 { return s.pssFile })
	_, hwm := pick(func(s memSample) int64 { return s.hwm })
	fmt.Fprintf(&b, "\nPeak resident over the agent's life (VmHWM, start-up, pulls and updates included): %s. Agent CPU over the sampled minute (user + system, polls, probes and garbage collection included): %.2f %% of one core.\n", mib(hwm), cpu)
	rss, _ := pick(func(s memSample) int64 { return s.rss })
	met := "met"
	if rss*1024 >= idleTarget {
		met = "not met"
	}
	fmt.Fprintf(&b, "\nTarget: idle VmRSS under %d MB: %s (median %s).\n", idleTarget/1000000, met, mib(rss))
	b.WriteString("\nFile-backed pages are the binary's code and read-only data: clean, shared with the page cache, and the first the kernel reclaims under pressure, refaulted from storage when touched again. Anonymous memory is what the agent really holds.\n")
	return b.String(), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
