package fleetsim

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
)

// Result is what one run measured.
type Result struct {
	Agents   int
	Interval time.Duration
	// MaxStale is the head URL's maxStale the agents ran with; StartSpread
	// the time over which they started.
	MaxStale, StartSpread time.Duration
	// Git and Head are the quiet windows: every node polling, by git
	// (protocol v2 ls-refs) and by the static head URL.
	Git, Head Window
	// FirstSync is from the agents' start (spread over one interval) to
	// each node's first revision applied; ChangeGit and ChangeHead from a
	// push of a change to each node having applied it.
	FirstSync, ChangeGit, ChangeHead Spread
	// ChangeGitWindow and ChangeHeadWindow are from each change's push to
	// the last node applied: the fetches, pulls and status pushes it cost.
	ChangeGitWindow, ChangeHeadWindow Window
	// Rollout is the window from the push of a change to a group with
	// three waves to the last node applied; Waves say when each wave ran.
	Rollout    Window
	RolloutAll time.Duration
	Waves      []WaveResult
	// GateHeld says every node of each wave started the new version after
	// every node of the wave before it (minHealthy 100 %).
	GateHeld bool
	// RegistryRequests and RegistryBytes are per node for one change.
	RegistryRequests, RegistryBytes float64
	// PushP50 and PushP99 are the status pushes' latency (a Report that
	// committed: ls-refs of its ref on a restart aside, one POST).
	Pushes           int64
	PushP50, PushP99 time.Duration
	// Conflicts are status pushes refused because the ref moved; Failed,
	// passes that failed (transient errors, retried with backoff). Both
	// must be 0.
	// ReportErrs are status reports that failed: a push that timed out may
	// have landed, and the node's next push then conflicts with it.
	// Resent are status pushes sent a second time, on a new connection,
	// because the server had closed the kept-alive one they went out on
	// (source.StatusWriter does so itself, once): retries that are not
	// failures, counted so that none goes unseen.
	Conflicts, Failed, ReportErrs, Resent int64
	Errors                                []string
	// GatesAttested are the rollout gates that opened for a node on its
	// wave's attesters' reports, GatesRead those that opened on the node's
	// own read of the awaited wave (reconciler.MsgGateOpen).
	GatesAttested, GatesRead int64
	// StatusRefs is how many nodes' status refs the server holds;
	// Converged how many nodes applied FinalRevision.
	StatusRefs, Converged int
	FinalRevision         string
	Growth                Growth
	// NodesParse and NodesAlloc are what one agent spends on the first
	// revision it reads while a rollout group selects it: every node file
	// (spec.Repo.ParseNodes, for the waves' members). NodesNext and
	// NodesNextAlloc are each later revision's, with the files parsed
	// before kept (spec.NodeCache, as the reconciler keeps them): the
	// fleet repo's last revision after the one before it. Both are read
	// from the fleet repo's git trees and measured alone after the run;
	// every agent of the sim does the same, on the same cores.
	NodesParse, NodesNext      time.Duration
	NodesAlloc, NodesNextAlloc int64
	// PeakRSS of this process (every agent): VmHWM in KiB. Heap is the
	// live heap in KiB after a collection at the end of the head-URL
	// window (every agent, quiet).
	PeakRSS, Heap int64
	// Err, when set, says why the run stopped before its end (the figures
	// of the phases it did not reach are zero).
	Err string
	// ServerWeight is the server's CPU priority over the agents
	// (Config.ServerWeight); 0 in results of runs before it existed.
	ServerWeight int
	// Load is the machine's load average (1 min) at the start and the end
	// of the run: other work shares the cores.
	Load [2]float64
}

// Window is a stretch of time with what happened in it.
type Window struct {
	Duration                time.Duration
	Polls, GitPolls, Pushes int64
	Failed, Conflicts, Held int64 // Held: passes a rollout gate held
	Bytes                   int64
	CPU                     time.Duration // the server's
	// AgentCPU is this process's CPU time: the agents, with the
	// byte-counting proxy and the registry they use.
	AgentCPU     time.Duration
	PerPollBytes float64
	// CPUPer1000 is the server's CPU seconds per 1,000 polls: per 1,000
	// nodes per poll interval.
	CPUPer1000 float64
	// OpBytes are the git bytes the agents counted themselves
	// (source.Traffic), by op: "reports" is what rollout gates read.
	OpBytes map[string]int64
	// PushSubjects says what the status pushes in the window reported
	// (their commits' subjects without the node name), with counts.
	PushSubjects map[string]int
	// FailedBy counts the failed passes by poll interval since the
	// window began (set for the rollout).
	FailedBy []int `json:",omitempty"`
}

// Spread is how long until half and all of the nodes got there.
type Spread struct{ Half, All time.Duration }

// WaveResult is one wave of the rollout: its nodes, and from the push,
// when its first and last node applied the change.
type WaveResult struct {
	Name        string
	Nodes       int
	First, Last time.Duration
}

// wait waits until every node applied rev (at most limit intervals) and
// returns how long after t0 half and all of them had.
func (s *sim) wait(ctx context.Context, rev string, t0 time.Time, limit int) (Spread, error) {
	deadline := time.Now().Add(time.Duration(limit)*s.cfg.Interval + time.Minute)
	for {
		var at []time.Duration
		for _, a := range s.agents {
			if t, ok := a.appliedAt(rev); ok {
				at = append(at, t.Sub(t0))
			}
		}
		if len(at) == len(s.agents) {
			slices.Sort(at)
			sp := Spread{Half: at[(len(at)+1)/2-1], All: at[len(at)-1]}
			s.progress("%.7s on every node: half after %s, all after %s", rev, sp.Half.Round(time.Millisecond), sp.All.Round(time.Millisecond))
			return sp, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return Spread{}, fmt.Errorf("%d of %d nodes applied %.7s in %s; failures: %s", len(at), len(s.agents), rev, time.Since(t0).Round(time.Second), strings.Join(s.c.errs(), "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *counters) errs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.firstErrs)
}

func (s *sim) snap() (snapshot, error) {
	cpu, err := s.cpu.Usage()
	return snapshot{at: time.Now(), passes: s.c.passes.Load(), gitPolls: s.c.gitPolls.Load(), pushes: s.c.pushes.Load(),
		conflicts: s.c.conflicts.Load(), failed: s.c.failed.Load(), held: s.c.held.Load(), cpu: cpu, self: selfCPU(), bytes: s.prx.Bytes(),
		opBytes: s.c.opBytesNow()}, err
}

// selfCPU is this process's CPU time so far (user and system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// window watches the fleet for n intervals.
func (s *sim) window(ctx context.Context, n int) (Window, error) {
	before, err := s.snap()
	if err != nil {
		return Window{}, err
	}
	s.sleep(ctx, time.Duration(n)*s.cfg.Interval)
	after, err := s.snap()
	if err != nil {
		return Window{}, err
	}
	w := windowOf(before, after)
	w.PushSubjects = s.c.subjectsBetween(before.at, after.at)
	s.progress("%d polls (%d by git), %.0f B and %.2f ms server CPU per poll, %d pushes %v", w.Polls, w.GitPolls, w.PerPollBytes, 1000*w.CPU.Seconds()/float64(max(w.Polls, 1)), w.Pushes, w.PushSubjects)
	return w, nil
}

// windowOf is what happened between two snapshots.
func windowOf(before, after snapshot) Window {
	d := after.sub(before)
	w := Window{Duration: after.at.Sub(before.at), Polls: d.passes, GitPolls: d.gitPolls, Pushes: d.pushes, Failed: d.failed, Conflicts: d.conflicts, Held: d.held, Bytes: d.bytes, CPU: d.cpu, AgentCPU: d.self, OpBytes: map[string]int64{}}
	for i, op := range ops {
		if d.opBytes[i] != 0 {
			w.OpBytes[string(op)] = d.opBytes[i]
		}
	}
	if d.passes > 0 {
		w.PerPollBytes = float64(d.bytes) / float64(d.passes)
		w.CPUPer1000 = d.cpu.Seconds() / float64(d.passes) * 1000
	}
	return w
}

// waves says when each wave of the rollout applied rev, and whether every
// node of a wave started it after every node of the wave before.
func (s *sim) waves(rev string, t0 time.Time) ([]WaveResult, error) {
	repo, err := spec.Parse(os.DirFS(s.repo.work))
	if err != nil {
		return nil, err
	}
	g := repo.Groups["all"]
	byName := map[string]*agent{}
	for _, a := range s.agents {
		byName[a.name] = a
	}
	var out []WaveResult
	var prevLast time.Time
	held := true
	for _, w := range rollout.Assign(g, rollout.Members(repo, g, "", nil)) {
		wr := WaveResult{Name: w.Name, Nodes: len(w.Nodes)}
		var first, last time.Time
		for i, n := range w.Nodes {
			a := byName[n]
			applied, _ := a.appliedAt(rev)
			ran, ok := a.rt.ranAt(rev)
			if !ok {
				return nil, fmt.Errorf("%s never started %.7s", n, rev)
			}
			if i == 0 || applied.Before(first) {
				first = applied
			}
			if i == 0 || applied.After(last) {
				last = applied
			}
			if !prevLast.IsZero() && !ran.After(prevLast) {
				held = false
			}
		}
		if len(w.Nodes) == 0 {
			out = append(out, wr)
			continue
		}
		wr.First, wr.Last = first.Sub(t0), last.Sub(t0)
		out = append(out, wr)
		// the next wave's starts must follow this wave's last start
		prevLast = time.Time{}
		for _, n := range w.Nodes {
			if ran, _ := byName[n].rt.ranAt(rev); ran.After(prevLast) {
				prevLast = ran
			}
		}
	}
	s.c.mu.Lock()
	s.c.gateHeld = held
	s.c.mu.Unlock()
	return out, nil
}

// check collects the run's totals and says what went wrong, if anything.
func (s *sim) check(res *Result) error {
	res.GateHeld = s.c.gateHeld
	res.Pushes, res.Conflicts, res.Failed, res.ReportErrs, res.Resent = s.c.pushes.Load(), s.c.conflicts.Load(), s.c.failed.Load(), s.c.reportErrs.Load(), s.c.resent.Load()
	res.GatesAttested, res.GatesRead = s.c.gatesAttested.Load(), s.c.gatesRead.Load()
	s.c.mu.Lock()
	res.PushP50, res.PushP99 = percentile(s.c.pushLatency, 50), percentile(s.c.pushLatency, 99)
	s.c.mu.Unlock()
	res.Errors = s.c.errs()
	refs, err := s.repo.statusRefs()
	if err != nil {
		return err
	}
	var missing []string
	for _, a := range s.agents {
		if refs[a.name] {
			res.StatusRefs++
		} else {
			missing = append(missing, a.name)
		}
		if _, ok := a.appliedAt(res.FinalRevision); ok {
			res.Converged++
		}
	}
	res.PeakRSS = peakRSS()
	res.Load[1] = loadAvg()
	var errs []string
	if len(missing) > 0 {
		errs = append(errs, fmt.Sprintf("no status ref for %d nodes (%s…)", len(missing), missing[0]))
	}
	if res.Converged != len(s.agents) {
		errs = append(errs, fmt.Sprintf("%d of %d nodes on the final revision", res.Converged, len(s.agents)))
	}
	if !res.GateHeld {
		errs = append(errs, "a node started the rollout's change before the wave before it had")
	}
	if len(errs) > 0 {
		return fmt.Errorf("fleetsim: %s", strings.Join(errs, "; "))
	}
	return nil
}

// nodesParse measures an agent's read of the node files on the fleet
// repo's last two revisions: the first without a cache, then the last
// with the files of the one before kept.
func (s *sim) nodesParse(ctx context.Context, res *Result) error {
	l, err := source.ParseLocation(s.repo.bare, source.Auth{})
	if err != nil {
		return err
	}
	repo, err := source.Open(ctx, l, source.OpenOptions{})
	if err != nil {
		return err
	}
	head, err := repo.Branch("main")
	if err != nil {
		return err
	}
	parents, err := repo.Parents(head)
	if err != nil || len(parents) == 0 {
		return fmt.Errorf("the revision before %s: %v", head, err)
	}
	node := s.agents[0].name
	var cache spec.NodeCache
	// read parses rev's node files as the reconciler does (ParseForNode,
	// then the cache) and returns the CPU time and bytes it took.
	read := func(rev string) (time.Duration, int64, error) {
		fsys, _, err := repo.Tree(rev)
		if err != nil {
			return 0, 0, err
		}
		r, err := spec.ParseForNode(fsys, node)
		if err != nil {
			return 0, 0, err
		}
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		_, _, err = cache.ParseNodes(r, fsys)
		d := time.Since(start)
		runtime.ReadMemStats(&m1)
		return d, int64(m1.TotalAlloc - m0.TotalAlloc), err
	}
	if res.NodesParse, res.NodesAlloc, err = read(parents[0]); err != nil {
		return err
	}
	res.NodesNext, res.NodesNextAlloc, err = read(head)
	return err
}

// loadAvg is the 1-minute load average (0 when unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscanf(string(b), "%f", &l)
	return l
}

// peakRSS is this process's VmHWM in KiB (0 when unknown).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}
