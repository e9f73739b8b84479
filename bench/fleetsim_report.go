package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/bench/fleetsim"
	"github.com/gitfleet/gitfleet/source"
)

// simMarkdown writes the fleet simulation's section: what each run
// measured, then the projection from the largest run.
func simMarkdown(rs []*fleetsim.Result) string {
	var b strings.Builder
	b.WriteString("## Fleet simulation\n\n")
	b.WriteString("`bench/fleetsim`: N agents in this process, each fleetd's own reconciler `Run` loop (polls jittered ±10 %), git source with the head-URL poller in front of it, and status writer pushing its own status ref (signed with the node's status key, enrolled in its node file; gates verify the reports they read); only the runtime keeps state in memory (its pulls fetch the manifest from go-containerregistry's registry in process). One server, configured as a deployment would be: Debian's nginx (2 workers, 4,096 connections each) with fcgiwrap (8 processes, 4 per core: the server is CPU-bound, more processes only queue in the kernel instead of the socket) on a unix socket with a listen backlog of 4,096 (what Debian's `fcgiwrap.socket` gets under systemd, SOMAXCONN; fcgiwrap's own `-s` socket has 511, and a change's burst to 1,000 nodes overflowed it: nginx answers a full backlog at once with 502, `connect() … (11: Resource temporarily unavailable)`), nginx's default FastCGI timeouts (60 s) and `git http-backend`, in a cgroup of its own for its CPU time (nginx, fcgiwrap and every git process they start) which also gives it CPU priority over the agents (`fleetsim.Config.ServerWeight`, `-sim-server-weight`, default 10: its cgroup's `cpu.shares` are ten processes' worth; a deployment runs the server on a machine of its own, while here the 1,000 agents share its 2 cores, and without priority the agents' own work in a change's burst delays the server's answers past their 15 s deadlines), behind a byte-counting proxy; the fleet repo's `post-receive` hook is `packaging/post-receive-head`, which publishes the head file nginx serves. ")
	fmt.Fprintf(&b, "The poll interval grows with the fleet, %s per node and at least 6 s (`fleetsim.PerNode`; 30 s at 1,000 nodes, fleetd's default): the server spends about 6 ms of CPU per git poll (about 0.2 of a core at this interval) and 40–50 ms per node and change, most of it the status push (`git receive-pack` checks the pushed commit's connectivity against every ref: measured alone, 14 ms a push with 200 status refs and 21 ms with 1,000 when the refs' commits are packed, 25 and 70 ms while they are loose objects, as pushes leave them until `git gc --auto` packs them), and a change reaches the fleet over one to two intervals, about one of the machine's 2 cores. Agents start at random over one interval per 500 nodes. ", fleetsim.PerNode)
	b.WriteString("Phases: first sync; a quiet window of git polls (protocol v2 `ls-refs`, 2 intervals); a change; `fleet.yaml` gains `spec.poll.url`; a quiet window of head-URL polls one maxStale long, so that it holds each node's git cross-check (the simulation sets the head URL's maxStale to 3 intervals, as `fleetd --poll-max-stale` would; fleetd's default is 10 intervals, shortened so that a 1,000-node run fits in about 25 minutes); a change; the group gains a rollout of three waves (canary 5 %, early 25 %, rest; `minHealthy: 100%`) and a change rolls out. The agents and the server share the machine's 2 cores (and other work): read times as a loaded machine's, costs per poll as the figures to scale. A node's status ref is written by that node alone, so a push can only conflict with the node's own earlier push whose answer it did not get (it timed out, the server applied it): conflicts and failed passes are what a saturated server looks like (an earlier 300-node run at a 14 s interval on a machine at load 21–27 had 19 and 4,344: polls past their 15 s deadline), 0 when the interval leaves the server room. A status push that fails with EOF is most likely the keep-alive race: the agent sent its POST on an idle connection that the server closed at that moment (nginx's keepalive_timeout is 75 s and a node pushes only when its report changes; fleetd closes its idle connections after 45 s, before nginx does, so against nginx that race is gone, but a server or proxy with a shorter timeout still has it); Go's HTTP client resends only idempotent requests, so fleetd resends the push itself, once, on a new connection: it is a compare-and-swap of the node's own ref, so a resend cannot overwrite anything, and when the first attempt did land the resend's refusal is recognised (the ref already holds the commit) and counts as pushed, not as a conflict. An agent whose pass fails (a 502, a timeout) retries after a backoff from 1 s doubling up to the interval, jittered ±10 % like every wait.\n\n")
	b.WriteString(machine())
	b.WriteString("\n| measure |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %d nodes |", r.Agents)
	}
	b.WriteString("\n|---|")
	for range rs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(name string, f func(r *fleetsim.Result) string) {
		b.WriteString("| " + name + " |")
		for _, r := range rs {
			b.WriteString(" " + f(r) + " |")
		}
		b.WriteString("\n")
	}
	// A run that stopped has no figures for the phases it did not reach.
	rollout := func(f func(r *fleetsim.Result) string) func(r *fleetsim.Result) string {
		return func(r *fleetsim.Result) string {
			if len(r.Waves) == 0 {
				return "not reached"
			}
			return f(r)
		}
	}
	growth := func(f func(r *fleetsim.Result) string) func(r *fleetsim.Result) string {
		return func(r *fleetsim.Result) string {
			if r.Growth.Nodes == 0 {
				return "not reached"
			}
			return f(r)
		}
	}
	row("outcome", func(r *fleetsim.Result) string {
		if r.Err != "" {
			return "**stopped**: " + strings.ReplaceAll(strings.ReplaceAll(firstLine(r.Err), "|", "/"), "\n", " ")
		}
		return "every phase done"
	})
	row("poll interval (sim); head URL maxStale; agents started over", func(r *fleetsim.Result) string {
		return fmt.Sprintf("%s; %s; %s", r.Interval, r.MaxStale, r.StartSpread)
	})
	row("machine load average at start / end (2 cores)", func(r *fleetsim.Result) string { return fmt.Sprintf("%.1f / %.1f", r.Load[0], r.Load[1]) })
	row("the server's CPU priority over the agents (its cgroup's share, in processes)", func(r *fleetsim.Result) string {
		if r.ServerWeight == 0 {
			return "none (before the setting)"
		}
		return fmt.Sprintf("%d", r.ServerWeight)
	})
	row("bytes per poll, git (v2 `ls-refs`), both directions", func(r *fleetsim.Result) string { return fmt.Sprintf("%.0f B", r.Git.PerPollBytes) })
	row("bytes per poll, static head URL: a 304 alone; with its git cross-checks (every maxStale)", func(r *fleetsim.Result) string {
		b, _ := headOnly(r)
		return fmt.Sprintf("%.0f B; %.0f B", b, r.Head.PerPollBytes)
	})
	row("server CPU per 1,000 nodes per interval, git polls", func(r *fleetsim.Result) string { return fmt.Sprintf("%.2f s", r.Git.CPUPer1000) })
	row("server CPU per 1,000 nodes per interval, head URL (its git cross-checks included)", func(r *fleetsim.Result) string {
		return fmt.Sprintf("%.3f s (%d of %d polls asked git)", r.Head.CPUPer1000, r.Head.GitPolls, r.Head.Polls)
	})
	row("status pushes and failed passes in the quiet windows (0 when the machine kept up)", func(r *fleetsim.Result) string {
		return fmt.Sprintf("%d, %d", r.Git.Pushes+r.Head.Pushes, r.Git.Failed+r.Head.Failed)
	})
	row("status push latency p50 / p99, in the fleet's bursts (after each change)", func(r *fleetsim.Result) string {
		return fmt.Sprintf("%s / %s (%d pushes)", ms(r.PushP50), ms(r.PushP99), r.Pushes)
	})
	row("status push latency p50 / p99, one at a time (the growth measure's heartbeats)", growth(func(r *fleetsim.Result) string {
		return fmt.Sprintf("%s / %s", ms(r.Growth.PushP50), ms(r.Growth.PushP99))
	}))
	row("push conflicts / failed passes (retried) / failed status reports (a push that timed out can land, and the node's next push then conflicts with its own)", func(r *fleetsim.Result) string {
		return fmt.Sprintf("%d / %d / %d", r.Conflicts, r.Failed, r.ReportErrs)
	})
	row("status pushes sent again on a new connection (the server had closed the kept-alive one; fleetd's own single resend)", func(r *fleetsim.Result) string {
		return fmt.Sprint(r.Resent)
	})
	row("rollout gates opened (a node's pass; a gate that opened and whose apply then failed opens again): on two of the wave's three attesters' reports / on the node's own read of the awaited wave", func(r *fleetsim.Result) string {
		return fmt.Sprintf("%d / %d", r.GatesAttested, r.GatesRead)
	})
	row("failed passes: the first errors", func(r *fleetsim.Result) string {
		if len(r.Errors) == 0 {
			return "none"
		}
		var es []string
		for _, e := range r.Errors[:min(2, len(r.Errors))] {
			es = append(es, strings.ReplaceAll(firstLine(e), "|", "/"))
		}
		return strings.Join(es, "; ")
	})
	spread := func(s fleetsim.Spread, iv time.Duration) string {
		return fmt.Sprintf("%.1f s / %.1f s (%.2f / %.2f intervals)", s.Half.Seconds(), s.All.Seconds(), float64(s.Half)/float64(iv), float64(s.All)/float64(iv))
	}
	row("first sync, 50 % / 100 % of nodes (from the first agent's start)", func(r *fleetsim.Result) string { return spread(r.FirstSync, r.Interval) })
	row("a merged change on 50 % / 100 % of nodes, git polls", func(r *fleetsim.Result) string { return spread(r.ChangeGit, r.Interval) })
	row("the same, head URL polls", func(r *fleetsim.Result) string { return spread(r.ChangeHead, r.Interval) })
	row("one change per node: bytes, server CPU (poll, fetch, status push; the other polls meanwhile taken out)", func(r *fleetsim.Result) string {
		bytes, cpu := changeCost(r)
		return fmt.Sprintf("%.1f KB, %.1f ms", bytes/1e3, 1e3*cpu)
	})
	row("one change per node: CPU of the agents' process (fetch, parse, apply, status commit and push; with the proxy and registry they use)", func(r *fleetsim.Result) string {
		if r.ChangeGitWindow.AgentCPU == 0 {
			return "not measured"
		}
		return fmt.Sprintf("%.1f ms", 1e3*r.ChangeGitWindow.AgentCPU.Seconds()/float64(r.Agents))
	})
	row("registry per node per change", func(r *fleetsim.Result) string {
		return fmt.Sprintf("%.1f requests, %.0f B", r.RegistryRequests, r.RegistryBytes)
	})
	row("rollout, 3 waves: nodes; each wave's first–last node applied (intervals after the push)", rollout(func(r *fleetsim.Result) string {
		var parts []string
		for _, w := range r.Waves {
			parts = append(parts, fmt.Sprintf("%s %d: %.1f–%.1f", w.Name, w.Nodes, float64(w.First)/float64(r.Interval), float64(w.Last)/float64(r.Interval)))
		}
		return strings.Join(parts, "; ")
	}))
	row("rollout: every wave started after the one before (gate held)", rollout(func(r *fleetsim.Result) string { return yesNo(r.GateHeld) }))
	row("rollout: bytes and server CPU per node; of its bytes, the fetches of the new commit per node (the whole tree for the waves' members was fetched when the rollout was turned on, before this window); held passes, and what each read of the awaited wave's reports (the agents' own count)", rollout(func(r *fleetsim.Result) string {
		w := r.Rollout
		n := float64(r.Agents)
		return fmt.Sprintf("%.1f KB, %.1f ms; %.1f KB; %d held, %.2f KB each", float64(w.Bytes)/n/1e3, 1e3*w.CPU.Seconds()/n, float64(w.OpBytes["fetch"])/n/1e3, w.Held, heldReads(r)/1e3)
	}))
	row("each node, per new revision while a rollout selects it: reading the node files for the waves (CPU, allocated; one agent alone): the first revision (every file) / each later one (changed files only)", func(r *fleetsim.Result) string {
		if r.NodesParse == 0 {
			return "not reached"
		}
		return fmt.Sprintf("%s, %s / %s, %.1f KiB", ms(r.NodesParse), mib(r.NodesAlloc>>10), r.NodesNext.Round(time.Microsecond), float64(r.NodesNextAlloc)/1024)
	})
	row("status refs on the server / nodes on the final revision", func(r *fleetsim.Result) string {
		return fmt.Sprintf("%d / %d", r.StatusRefs, r.Converged)
	})
	row("repo growth per node per day, 1 h heartbeat: as pushed (loose) / after `git gc`", growth(func(r *fleetsim.Result) string {
		g := r.Growth
		return fmt.Sprintf("%.1f KB / %.1f KB (%d-byte report)", g.PerNodeDay(g.Loose)/1e3, g.PerNodeDay(g.Packed)/1e3, g.Report)
	}))
	row("peak RSS of the process holding every agent; its live heap in a quiet window, per agent", func(r *fleetsim.Result) string {
		if r.Heap == 0 {
			return mib(r.PeakRSS) + "; not reached"
		}
		return fmt.Sprintf("%s; %s, %.0f KiB", mib(r.PeakRSS), mib(r.Heap), float64(r.Heap)/float64(r.Agents))
	})
	if r := projected(rs); r != nil {
		b.WriteString(projection(r))
	}
	return b.String()
}

// projected is the run to project from: the largest whose quiet windows
// were quiet (no status push, no failed pass), else the largest that
// finished.
func projected(rs []*fleetsim.Result) *fleetsim.Result {
	var done *fleetsim.Result
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if r.Err != "" {
			continue
		}
		if r.Git.Pushes+r.Head.Pushes+r.Git.Failed+r.Head.Failed == 0 {
			return r
		}
		if done == nil {
			done = r
		}
	}
	return done
}

// changeCost is what one change costs per node, from push to the last
// node applied: the window's bytes and server CPU less those of the polls
// that found nothing (all but one per node, at the quiet window's cost).
func changeCost(r *fleetsim.Result) (bytes, cpuSeconds float64) {
	w, n := r.ChangeGitWindow, float64(r.Agents)
	idle := float64(max(w.Polls-int64(r.Agents), 0))
	perPoll := r.Git.CPU.Seconds() / float64(max(r.Git.Polls, 1))
	return (float64(w.Bytes) - idle*r.Git.PerPollBytes) / n, (w.CPU.Seconds() - idle*perPoll) / n
}

// firstLine is s up to its first newline, at most 300 bytes.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// projection scales r's per-node costs to 10,000 and 100,000 nodes polling
// every 30 s.
func projection(r *fleetsim.Result) string {
	iv := projectInterval.Seconds()
	gitCPU := r.Git.CPU.Seconds() / float64(max(r.Git.Polls, 1))
	// A head-URL poll that asks no git: the head window's CPU less its git
	// cross-checks at the git window's cost.
	head := r.Head
	headBytes, headCPU := headOnly(r)
	headCores := func(n float64, maxStale time.Duration) float64 {
		return n/iv*headCPU + n/maxStale.Seconds()*gitCPU
	}
	// head URL bandwidth with fleetd's default maxStale (10 intervals)
	headBW := func(n float64) float64 { return n/iv*headBytes + n/(10*iv)*r.Git.PerPollBytes }
	chBytes, chCPU := changeCost(r)
	growth := r.Growth.PerNodeDay(r.Growth.Packed)
	var b strings.Builder
	fmt.Fprintf(&b, "\nProjection from the %d-node run's per-poll and per-change costs (server CPU per git poll %.1f ms; per head-URL poll that asks no git %.0f µs, the head window's CPU less its %d git cross-checks), every node polling every %s (fleetd's default), heartbeat %s. A change reaches every node within about one interval, so its fetches and status pushes arrive as a burst over one interval.\n\n",
		r.Agents, 1e3*gitCPU, 1e6*headCPU, head.GitPolls, projectInterval, source.DefaultHeartbeat)
	b.WriteString("| | 10,000 nodes | 100,000 nodes |\n|---|---|---|\n")
	row := func(name string, f func(n float64) string) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, f(1e4), f(1e5))
	}
	row("polls per second", func(n float64) string { return fmt.Sprintf("%.0f", n/iv) })
	row("status pushes per second: heartbeats; during a change's burst", func(n float64) string {
		return fmt.Sprintf("%.1f; %.0f", n/source.DefaultHeartbeat.Seconds(), n/iv)
	})
	row("poll bandwidth, git / head URL (its git cross-checks every 5 min included)", func(n float64) string {
		return fmt.Sprintf("%s/s / %s/s", byteRate(n/iv*r.Git.PerPollBytes), byteRate(headBW(n)))
	})
	row("server cores for polls, git", func(n float64) string { return fmt.Sprintf("%.2f", n/iv*gitCPU) })
	row("server cores for polls, head URL with cross-checks every maxStale = 5 min (the default) / 1 h", func(n float64) string {
		return fmt.Sprintf("%.2f / %.2f", headCores(n, 10*projectInterval), headCores(n, time.Hour))
	})
	row("a change's burst over one interval: bandwidth, server cores", func(n float64) string {
		return fmt.Sprintf("%s/s, %.1f", byteRate(n*chBytes/iv), n*chCPU/iv)
	})
	row("repository growth per day from heartbeats (packed)", func(n float64) string { return byteRate(n * growth) })
	fmt.Fprintf(&b, "\nWhat carries it. A git poll costs the server %.1f ms of CPU (`git http-backend` and `git upload-pack` started per poll): one core answers about %.0f nodes at a 30 s interval, so 10,000 nodes need %.1f cores of a plain git server and 100,000 need %.0f. Gitea and GitLab run the same git processes per request (GitLab through Gitaly) with their own work on top: size them at least as large, and at 100,000 nodes that is a replicated setup. With the static head URL a quiet poll is a 304 from nginx; what is left for git is the cross-checks (nodes / maxStale): 10,000 nodes need %.2f cores in all at the default maxStale, 100,000 nodes %.2f with maxStale 1 h, which one plain git server beside a web server, an object store or a CDN carries.\n\n",
		1e3*gitCPU, iv/gitCPU, 1e4/iv*gitCPU, 1e5/iv*gitCPU, headCores(1e4, 10*projectInterval), headCores(1e5, time.Hour))
	fmt.Fprintf(&b, "Where it stops. The head URL does not remove the change burst: every node polls git, fetches the new commit and pushes a status commit within about one interval, %.1f ms of server CPU per node here, so a change to 100,000 nodes is %.0f core-seconds of git work, %.0f cores if it lands within one 30 s interval. Rollout waves spread it (each wave is a burst of its own size) and so does a longer interval; past that the fleet repo needs read replicas (mirrors per site or region that nodes use as `--repo`). Rollout gates: a held node asks for the reports of the wave it waits for on every pass (ls-refs of their refs; a report is fetched, decoded and its signature checked again only when its ref moved, and a held node's report moves when its hold starts and ends, not as the count it waits on moves), %.2f KB per held pass here (the agents' own count), growing with the size of that wave: about ten times that at 10,000 nodes, the next limit of a single group, where the group is better split (a group per site or line, each with its waves). Opening a gate takes reading every report of the awaited wave; in a wave of 32 nodes or more only its three attesters do, and its other nodes open on two of their signed attestations (%d of the %d gate openings here), so that read grows with the two waves' sizes added, not multiplied (before attesters: 712 × 238 reports, 226–255 MB at 1,000 nodes and about 23 GB at 10,000). And the status refs themselves: one ref per node in one repository, so every full advertisement (gates, `fleetctl status`, a go-git fetch) grows by about 74 B per node (7.4 MB at 100,000), every status push costs the server more (`git receive-pack` checks the pushed commit against every ref's commit: measured alone, 14, 21 and 25–30 ms a push with 200, 1,000 and 4,000 status refs whose commits are packed, two to three times that while they are loose objects, so the server's maintenance should pack them between bursts: `git gc` or `git maintenance`, and `receive.autogc false` when it does), and the repository grows by %s a day from heartbeats. Past some tens of thousands of nodes status belongs in repositories of its own, sharded by site (`--status-repo`), or in a small HTTP collector that writes the same reports in batches; the desired-state side (one branch, a static head, fetches from mirrors) carries on.\n",
		1e3*chCPU, 1e5*chCPU, 1e5*chCPU/iv, heldReads(r)/1e3, r.GatesAttested, r.GatesAttested+r.GatesRead, byteRate(1e5*growth))
	if r.NodesParse > 0 {
		per := func(n float64) (time.Duration, int64) {
			f := n / float64(r.Agents)
			return time.Duration(float64(r.NodesParse) * f), int64(float64(r.NodesAlloc) * f)
		}
		t1, a1 := per(1e4)
		t2, a2 := per(1e5)
		fmt.Fprintf(&b, "\nOn the nodes. While a rollout group selects a node, the node reads the other nodes' files to know the waves' members (spec's ParseNodes). The first revision it reads that way costs every file: %s of CPU and %s allocated at %d nodes, growing with the fleet, so about %s and %s at 10,000 nodes and %s and %s at 100,000, once after each start. Later revisions reuse the files whose blob is unchanged (spec.NodeCache, kept by the reconciler with the workload names and the fleet's host-path policy they were checked against): %s and %s for this run's last revision, which changed no node file; a revision that changes k node files parses those k.\n",
			ms(r.NodesParse), mib(r.NodesAlloc>>10), r.Agents, t1.Round(time.Millisecond), mib(a1>>10), t2.Round(time.Millisecond), mib(a2>>10), r.NodesNext.Round(time.Microsecond), fmt.Sprintf("%.1f KiB", float64(r.NodesNextAlloc)/1024))
	}
	return b.String()
}

// headOnly is what a head-URL poll that asks no git costs: the head
// window's bytes and server CPU less its git cross-checks at the git
// window's cost per poll.
func headOnly(r *fleetsim.Result) (bytes, cpuSeconds float64) {
	h := r.Head
	gitCPU := r.Git.CPU.Seconds() / float64(max(r.Git.Polls, 1))
	polls := float64(max(h.Polls-h.GitPolls, 1))
	git := float64(h.GitPolls)
	return max(float64(h.Bytes)-git*r.Git.PerPollBytes, 0) / polls, max(h.CPU.Seconds()-git*gitCPU, 0) / polls
}

// heldReads is the bytes of other nodes' reports the agents read in the
// rollout window per held pass: what a rollout gate costs on the wire.
func heldReads(r *fleetsim.Result) float64 {
	return float64(r.Rollout.OpBytes["reports"]) / float64(max(r.Rollout.Held, 1))
}
