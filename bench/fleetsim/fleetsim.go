// Package fleetsim runs a fleet of simulated nodes in one process against
// one real smart-HTTP git server, to measure what a fleet costs the
// server and how changes reach it. Each node is fleetd's own code: the
// reconciler's Run loop (jittered polls, rollout gates), the git source
// with the head URL poller in front of it, and the status writer pushing
// the node's own status ref; only the runtime is a state keeper (its
// pulls fetch manifests from a real in-process registry). The server is
// Debian's nginx with fcgiwrap and git http-backend (internal/nginxtest)
// in a cgroup of its own for its CPU time, behind a byte-counting proxy;
// the fleet repo's post-receive hook (packaging/post-receive-head)
// publishes the static head file that nginx serves.
//
// Run takes the fleet through: first sync; a quiet window of git polls; a
// change; a change of fleet.yaml that turns on the head URL; a quiet
// window of head-URL polls; a change; a rollout in three waves gated on
// health; and measures the repository's growth from heartbeats.
package fleetsim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/nginxtest"
	"github.com/gitfleet/gitfleet/trust"
)

// Config says how big a fleet to run and how long to watch it.
type Config struct {
	// Agents is the number of nodes. Required.
	Agents int
	// Interval is every node's poll interval (jittered by ±10 % as fleetd
	// does). Default: PerNode per node, at least 6 s (see PerNode).
	Interval time.Duration
	// StartSpread is the time over which the agents start, at random.
	// Default: one interval per 500 nodes (at least one), so that the
	// fleet's first syncs do not all queue at the server at once.
	StartSpread time.Duration
	// MaxStale is the head URL's maxStale, in intervals: how long a node
	// trusts the static head before it asks git again. fleetd's default is
	// 10 intervals; the simulation sets 3 explicitly so that its head-URL
	// window (one maxStale long, so that it holds each node's git
	// cross-check) fits a run of about 25 minutes at 1,000 nodes. Default 3.
	MaxStale int
	// GitWindow and HeadWindow are the quiet windows' lengths in intervals.
	// Defaults 2 and MaxStale.
	GitWindow, HeadWindow int
	// Heartbeats is how many heartbeats each of GrowthNodes status writers
	// commits for the growth measure. Defaults 24 and 10.
	Heartbeats, GrowthNodes int
	// ServerWeight is the server's CPU priority over this process (and the
	// rest of the machine) when both want the cores: its cgroup's share is
	// ServerWeight times a process's (cpu.shares, cpu.weight). A deployment
	// runs the server on a machine of its own; here the agents share its 2
	// cores, and without priority a change's burst of agent work delays the
	// server's answers past the agents' deadlines. Default 10; 1 shares
	// the cores evenly.
	ServerWeight int
	// Dir holds everything; default a new temporary directory, removed.
	Dir string
	// Progress, when set, gets a line per phase.
	Progress io.Writer
}

func (c *Config) defaults() error {
	if c.Agents <= 0 {
		return fmt.Errorf("fleetsim: %d agents", c.Agents)
	}
	if c.Interval <= 0 {
		c.Interval = max(6*time.Second, time.Duration(c.Agents)*PerNode)
	}
	if c.StartSpread <= 0 {
		c.StartSpread = c.Interval * time.Duration(max(1, c.Agents/500))
	}
	if c.MaxStale <= 0 {
		c.MaxStale = 3
	}
	if c.GitWindow <= 0 {
		c.GitWindow = 2
	}
	if c.HeadWindow <= 0 {
		c.HeadWindow = c.MaxStale
	}
	if c.Heartbeats <= 0 {
		c.Heartbeats = 24
	}
	if c.ServerWeight <= 0 {
		c.ServerWeight = 10
	}
	if c.GrowthNodes <= 0 {
		c.GrowthNodes = 10
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// PerNode is the default poll interval's share per node: 30 s at 1,000
// nodes, fleetd's default interval, so that the 1,000-node figures are a
// real fleet's. The server spends about 6 ms of CPU per git poll (0.2 of
// a core for quiet polls at this share) and about 40–50 ms per node and
// change (poll, fetch, status push; the push most of it), and a change
// reaches the fleet over one to two intervals: about one of the machine's
// 2 cores for a change's burst (the server has CPU priority over the
// agents, Config.ServerWeight). The run's length is the other bound: some
// 40 intervals.
const PerNode = 30 * time.Millisecond

// sim is one run.
type sim struct {
	cfg    Config
	repo   *fleetRepo
	reg    *registry
	cpu    *CPUGroup
	prx    *gittest.Proxy
	agents []*agent
	c      counters
	base   string // the server's URL through the proxy
}

// Run runs the fleet and returns what it measured. An error means the
// fleet did not do what it must (a node that never converged, a failed
// server); the Result says how far it got.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "fleetsim-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(cfg.Dir)
	}
	s := &sim{cfg: cfg}
	res = &Result{Agents: cfg.Agents, Interval: cfg.Interval, MaxStale: time.Duration(cfg.MaxStale) * cfg.Interval, ServerWeight: cfg.ServerWeight,
		StartSpread: cfg.StartSpread, Load: [2]float64{loadAvg()}}
	gitRoot, heads := filepath.Join(cfg.Dir, "git"), filepath.Join(cfg.Dir, "heads")
	for _, d := range []string{gitRoot, heads} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if s.reg, err = startRegistry(); err != nil {
		return nil, err
	}
	defer s.reg.close()
	if s.repo, err = newFleetRepo(gitRoot, heads, filepath.Join(cfg.Dir, "work")); err != nil {
		return nil, err
	}
	srv, err := nginxtest.Start(nginxtest.Config{Root: heads, GitRoot: gitRoot, Workers: 2, FcgiWorkers: 8, Backlog: 4096})
	if err != nil {
		return nil, err
	}
	if s.cpu, err = NewCPUGroup(fmt.Sprintf("gitfleet-fleetsim-%d", os.Getpid()), srv.PIDs()); err != nil {
		srv.Stop()
		return nil, err
	}
	defer s.cpu.Close()
	defer srv.Stop()
	if cfg.ServerWeight > 1 {
		if err := s.cpu.Prioritize(cfg.ServerWeight, srv.PIDs()); err != nil {
			return nil, err
		}
	}
	if s.prx, err = gittest.StartProxy(strings.TrimPrefix(srv.URL, "http://")); err != nil {
		return nil, err
	}
	defer s.prx.Close()
	s.base = "http://" + s.prx.Addr()

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	if err := s.fleet(ctx, runCtx, &wg, res); err != nil {
		stop()
		wg.Wait()
		s.check(res)
		return res, err
	}
	stop()
	wg.Wait()
	if err := s.check(res); err != nil {
		return res, err
	}
	if err := s.nodesParse(ctx, res); err != nil {
		return res, fmt.Errorf("parse the node files: %w", err)
	}
	s.progress("growth: %d status writers, %d heartbeats each", cfg.GrowthNodes, cfg.Heartbeats)
	if res.Growth, err = s.growth(ctx, gitRoot); err != nil {
		return res, fmt.Errorf("growth: %w", err)
	}
	return res, nil
}

// fleet starts the agents and takes them through the phases.
func (s *sim) fleet(ctx, runCtx context.Context, wg *sync.WaitGroup, res *Result) error {
	iv := s.cfg.Interval
	img, err := s.reg.push(ctx, "models/sim", "v1")
	if err != nil {
		return err
	}
	files := map[string]string{
		"fleet.yaml":           fleetYAML(iv.String(), s.reg.host, ""),
		"workloads/model.yaml": workloadYAML(img, "1"),
		"groups/all.yaml":      groupYAML(false),
	}
	// Each node's status key, made as fleetd makes it, is enrolled in its
	// file: rollout gates trust only reports signed with it.
	keys := make([]*trust.StatusKey, s.cfg.Agents+1)
	for i := 1; i <= s.cfg.Agents; i++ {
		k, _, err := trust.LoadOrCreateStatusKey(filepath.Join(s.cfg.Dir, "nodes", nodeName(i), "status.key"), "fleetd@"+nodeName(i))
		if err != nil {
			return err
		}
		keys[i] = k
		files["nodes/"+nodeName(i)+".yaml"] = nodeYAML(nodeName(i), i, k.AuthorizedKey("fleetd@"+nodeName(i)))
	}
	rev, err := s.repo.commit(fmt.Sprintf("fleet of %d nodes", s.cfg.Agents), files)
	if err != nil {
		return err
	}
	pulls := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for i := 1; i <= s.cfg.Agents; i++ {
		a, err := newAgent(nodeName(i), filepath.Join(s.cfg.Dir, "nodes", nodeName(i)), s.base+"/git/fleet.git", iv, time.Duration(s.cfg.MaxStale)*iv, keys[i], &s.c, pulls)
		if err != nil {
			return err
		}
		s.agents = append(s.agents, a)
	}
	s.progress("%d agents start within %s, poll interval %s, head URL maxStale %s", s.cfg.Agents, s.cfg.StartSpread, iv, time.Duration(s.cfg.MaxStale)*iv)
	start := time.Now()
	for _, a := range s.agents {
		delay := time.Duration(rand.Int64N(int64(s.cfg.StartSpread)))
		wg.Go(func() {
			select {
			case <-time.After(delay):
				a.rec.Run(runCtx)
			case <-runCtx.Done():
			}
		})
	}
	if res.FirstSync, err = s.wait(ctx, rev, start, 20+int(s.cfg.StartSpread/iv)); err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	s.quiesce(ctx)
	s.progress("quiet window, git polls: %d intervals", s.cfg.GitWindow)
	if res.Git, err = s.window(ctx, s.cfg.GitWindow); err != nil {
		return err
	}

	change := func(what, seed, version string) (string, time.Time, error) {
		img, err := s.reg.push(ctx, "models/sim", seed)
		if err != nil {
			return "", time.Time{}, err
		}
		s.progress("%s", what)
		rev, err := s.repo.commit(what, map[string]string{"workloads/model.yaml": workloadYAML(img, version)})
		return rev, time.Now(), err
	}
	reg0 := s.regSnap()
	before, err := s.snap()
	if err != nil {
		return err
	}
	rev, t0, err := change("model version 2 (nodes poll git)", "v2", "2")
	if err != nil {
		return err
	}
	if res.ChangeGit, err = s.wait(ctx, rev, t0, 20); err != nil {
		return fmt.Errorf("change via git polls: %w", err)
	}
	after, err := s.snap()
	if err != nil {
		return err
	}
	res.ChangeGitWindow = windowOf(before, after)
	reg1 := s.regSnap()
	res.RegistryRequests, res.RegistryBytes = float64(reg1[0]-reg0[0])/float64(s.cfg.Agents), float64(reg1[1]-reg0[1])/float64(s.cfg.Agents)

	s.progress("fleet.yaml: spec.poll.url")
	if rev, err = s.repo.commit("poll the static head URL", map[string]string{"fleet.yaml": fleetYAML(iv.String(), s.reg.host, s.base+"/fleet/main")}); err != nil {
		return err
	}
	if _, err = s.wait(ctx, rev, time.Now(), 20); err != nil {
		return fmt.Errorf("head URL on: %w", err)
	}
	s.quiesce(ctx) // each node's first head-URL poll asks git once, and reports the new path
	s.progress("quiet window, head URL polls: %d intervals", s.cfg.HeadWindow)
	if res.Head, err = s.window(ctx, s.cfg.HeadWindow); err != nil {
		return err
	}
	res.Heap = heapNow()
	if before, err = s.snap(); err != nil {
		return err
	}
	if rev, t0, err = change("model version 3 (nodes poll the head URL)", "v3", "3"); err != nil {
		return err
	}
	if res.ChangeHead, err = s.wait(ctx, rev, t0, 20); err != nil {
		return fmt.Errorf("change via the head URL: %w", err)
	}
	if after, err = s.snap(); err != nil {
		return err
	}
	res.ChangeHeadWindow = windowOf(before, after)
	return s.rollout(ctx, change, res)
}

// rollout turns on three waves gated on health and rolls out a change.
func (s *sim) rollout(ctx context.Context, change func(what, seed, version string) (string, time.Time, error), res *Result) error {
	s.progress("groups/all.yaml: rollout in three waves")
	rev, err := s.repo.commit("roll out in waves", map[string]string{"groups/all.yaml": groupYAML(true)})
	if err != nil {
		return err
	}
	if _, err = s.wait(ctx, rev, time.Now(), 20); err != nil {
		return fmt.Errorf("rollout on: %w", err)
	}
	s.quiesce(ctx)
	before, err := s.snap()
	if err != nil {
		return err
	}
	rev, t0, err := change("model version 4 (in waves)", "v4", "4")
	if err != nil {
		return err
	}
	all, err := s.wait(ctx, rev, t0, 80)
	if err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	after, err := s.snap()
	if err != nil {
		return err
	}
	res.Rollout = windowOf(before, after)
	res.Rollout.PushSubjects = s.c.subjectsBetween(before.at, after.at)
	res.Rollout.FailedBy = s.c.failedBy(before.at, s.cfg.Interval)
	w := res.Rollout
	s.progress("rollout: %d passes, %d held, %d failed (by interval: %v), %d status pushes %v; bytes by op %v; gates opened on attesters %d, on own reads %d",
		w.Polls, w.Held, w.Failed, w.FailedBy, w.Pushes, w.PushSubjects, w.OpBytes, s.c.gatesAttested.Load(), s.c.gatesRead.Load())
	res.RolloutAll = all.All
	res.Waves, err = s.waves(rev, t0)
	res.FinalRevision = rev
	s.sleep(ctx, s.cfg.Interval)
	return err
}

func (s *sim) progress(format string, args ...any) {
	fmt.Fprintf(s.cfg.Progress, "fleetsim %d: %s: %s\n", s.cfg.Agents, time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (s *sim) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// quiesce waits for the fleet to settle: until a whole interval passed
// without a status push (at most five).
func (s *sim) quiesce(ctx context.Context) {
	for range 5 {
		n := s.c.pushes.Load()
		s.sleep(ctx, s.cfg.Interval)
		if s.c.pushes.Load() == n || ctx.Err() != nil {
			return
		}
	}
}

func (s *sim) regSnap() [2]int64 { return [2]int64{s.reg.requests.Load(), s.reg.bytes.Load()} }

// heapNow is the live heap after a collection, in KiB: every agent's
// state in a quiet fleet (and the byte-counting proxy's buffers).
func heapNow() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc >> 10)
}
