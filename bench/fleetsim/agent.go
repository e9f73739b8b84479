package fleetsim

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/trust"
)

// checkReport trusts a report read for a gate as fleetd does: signed by
// the status key enrolled for its node.
func checkReport(statusKey string, r source.Report) status.Trust {
	if _, err := trust.VerifyReport(statusKey, r.Signature, r.Signed); err != nil {
		return status.Trust{Reason: err.Error()}
	}
	return status.Trust{Trusted: true}
}

// agent is one simulated node: fleetd's own source (a git store, the head
// URL poller in front of it), status writer and reconciler, on a runtime
// that only keeps state.
type agent struct {
	name string
	rec  *reconciler.Reconciler
	rt   *memRuntime
	sim  *counters

	commits atomic.Int64 // status commits pushed

	mu      sync.Mutex
	applied map[string]time.Time // revision → when a pass first ended with it applied
	lastErr error                // the last failed pass's error
}

// newAgent wires an agent as fleetd does (cmd/fleetd network()), against
// the fleet repo at repoURL, with the head URL's maxStale set (as fleetd's
// --poll-max-stale would); its state lives under dir.
func newAgent(name, dir, repoURL string, interval, maxStale time.Duration, key *trust.StatusKey, sim *counters, pulls *http.Client) (*agent, error) {
	a := &agent{name: name, sim: sim, applied: map[string]time.Time{}}
	log := slog.New(&logCounter{a: a})
	loc, err := source.ParseLocation(repoURL, source.Auth{})
	if err != nil {
		return nil, err
	}
	g, err := source.New(source.Config{Location: loc, Dir: filepath.Join(dir, "repo"), Node: name, Traffic: sim.traffic}, log)
	if err != nil {
		return nil, err
	}
	poller, err := source.NewHeadURL(&countingGit{g: g, sim: sim}, source.HeadURLConfig{MaxStale: maxStale, Traffic: sim.traffic}, log)
	if err != nil {
		return nil, err
	}
	rep, err := source.NewStatusWriter(source.StatusConfig{Location: loc, Node: name, Dir: filepath.Join(dir, "status"),
		Signer: key, CheckReport: checkReport, Traffic: sim.traffic}, log)
	if err != nil {
		return nil, err
	}
	a.rt = &memRuntime{pulls: pulls, ctrs: map[string]status.Instance{}}
	a.rec, err = reconciler.New(reconciler.Config{Node: name, Interval: interval, InsecureSkipVerify: true}, reconciler.Deps{
		Source: poller, Runtime: a.rt, Reporter: &timedReporter{w: rep, a: a}, Reports: rep,
		Observer: a, Log: log,
	})
	return a, err
}

// ObservePass notes when each revision was first applied, and failures.
func (a *agent) ObservePass(p reconciler.PassResult) {
	a.sim.passes.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if p.Revision != "" {
		if _, ok := a.applied[p.Revision]; !ok {
			a.applied[p.Revision] = time.Now()
		}
	}
	// A pass cut short by the end of the run is no failure.
	if p.Err != nil && !errors.Is(p.Err, context.Canceled) {
		a.lastErr = p.Err
		switch fault.ClassOf(p.Err) {
		case fault.Held:
			a.sim.held.Add(1)
		default:
			a.sim.failed.Add(1)
			a.sim.noteErr(a.name, p.Err)
		}
	}
}

// appliedAt returns when rev was first applied, and whether it was.
func (a *agent) appliedAt(rev string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.applied[rev]
	return t, ok
}

// countingGit is the agent's git source, counting git polls (a head URL
// poll that finds nothing new asks no git).
type countingGit struct {
	g   *source.Git
	sim *counters
}

func (c *countingGit) Head(ctx context.Context) (string, error) {
	c.sim.gitPolls.Add(1)
	return c.g.Head(ctx)
}

func (c *countingGit) Tree(ctx context.Context, rev string) (fs.FS, error) { return c.g.Tree(ctx, rev) }
func (c *countingGit) Protocol() string                                    { return c.g.Protocol() }

// timedReporter times the status writer's reports that push (those after
// which it logged a commit).
type timedReporter struct {
	w *source.StatusWriter
	a *agent
}

func (t *timedReporter) Report(ctx context.Context, st *status.NodeStatus) error {
	start := time.Now()
	before := t.a.commits.Load()
	err := t.w.Report(ctx, st)
	if t.a.commits.Load() > before {
		t.a.sim.pushed(time.Since(start))
	}
	if err != nil && ctx.Err() == nil {
		// A push whose answer was lost (a timeout) may still have moved
		// the ref on the server: the node's next push then finds its own
		// ref moved, a conflict of the node with itself.
		t.a.sim.reportErrs.Add(1)
	}
	return err
}

// logCounter is the agents' log: it counts the status writer's commits,
// the times it found its ref moved (a conflict, then a retry) and the
// pushes it sent again because the server had closed the kept-alive
// connection they went out on.
type logCounter struct{ a *agent }

func (l *logCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "status committed":
		l.a.commits.Add(1)
		r.Attrs(func(at slog.Attr) bool {
			if at.Key == "subject" {
				l.a.sim.subject(at.Value.String())
			}
			return true
		})
	case "status ref moved, reading it again":
		l.a.sim.conflicts.Add(1)
	case source.MsgPushResent:
		l.a.sim.resent.Add(1)
	case reconciler.MsgGateOpen:
		r.Attrs(func(at slog.Attr) bool {
			if at.Key == "via" {
				if at.Value.String() == reconciler.GateViaAttesters {
					l.a.sim.gatesAttested.Add(1)
				} else {
					l.a.sim.gatesRead.Add(1)
				}
			}
			return true
		})
	}
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

// memRuntime keeps the containers' state in memory: one container per
// workload, replaced by Run (the sim's workloads hold the same port).
// Pull fetches the manifest from the registry, so that a change costs the
// registry what a real node's pull asks first.
type memRuntime struct {
	pulls *http.Client
	mu    sync.Mutex
	ctrs  map[string]status.Instance // by workload
	n     int
	runs  []runRecord
}

type runRecord struct {
	rev string
	at  time.Time
}

func (m *memRuntime) List(context.Context) ([]status.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]status.Instance, 0, len(m.ctrs))
	for _, c := range m.ctrs {
		out = append(out, c)
	}
	return out, nil
}

func (m *memRuntime) Pull(ctx context.Context, src spec.ImageSource) error {
	return fetchManifest(ctx, m.pulls, src)
}

func (m *memRuntime) Run(_ context.Context, d spec.Desired, rev string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.ctrs[d.Name]; ok && c.SpecHash == d.Hash && c.State == status.StateRunning {
		return nil
	}
	m.n++
	m.ctrs[d.Name] = status.Instance{Workload: d.Name, ID: d.Name + "-" + d.Hash[len(d.Hash)-12:], SpecHash: d.Hash,
		Revision: rev, Image: d.Spec.Image, State: status.StateRunning, PID: uint32(1000 + m.n), StartedAt: time.Now()}
	m.runs = append(m.runs, runRecord{rev: rev, at: time.Now()})
	return nil
}

// ranAt returns when the container of rev was started.
func (m *memRuntime) ranAt(rev string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.runs {
		if r.rev == rev {
			return r.at, true
		}
	}
	return time.Time{}, false
}

func (m *memRuntime) Retire(_ context.Context, workload, keep string) error { return nil }

func (m *memRuntime) Remove(_ context.Context, workload string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ctrs, workload)
	return nil
}

var (
	_ reconciler.Runtime  = (*memRuntime)(nil)
	_ reconciler.Reporter = (*timedReporter)(nil)
	_ reconciler.Observer = (*agent)(nil)
)
