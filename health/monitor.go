package health

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fault"
	"github.com/gitfleet/gitfleet/spec"
)

// DefaultStartInterval is how often a workload is probed while it is
// starting, when its period is longer: a new version gets its verdict
// within about a second of becoming ready.
const DefaultStartInterval = time.Second

// Log attribute keys.
const (
	logKeyWorkload = "workload"
	logKeyState    = "health"
	logKeyMessage  = "message"
)

// Config configures a Monitor.
type Config struct {
	// Probe probes one workload. Default: a Prober's Probe with Exec.
	Probe ProbeFunc
	// Exec runs exec probes; needed when a workload has one and Probe is
	// not set.
	Exec Execer
	// StartInterval is the probe interval while a workload is starting (if
	// shorter than its period). Default 1s.
	StartInterval time.Duration
	// Log receives one line per verdict change. Default: discard.
	Log *slog.Logger
}

// Monitor probes a set of workloads, one goroutine each, and keeps their
// verdicts. Set, Get and Wait are safe for concurrent use; Run does the
// probing.
type Monitor struct {
	probe         ProbeFunc
	startInterval time.Duration
	log           *slog.Logger
	kick          chan struct{}

	mu      sync.Mutex
	entries map[string]*entry
	// changed is closed and replaced whenever a verdict or the set changes.
	changed chan struct{}
}

// entry is one monitored workload.
type entry struct {
	d      spec.Desired
	added  time.Time
	h      Health
	cancel context.CancelFunc // of its worker; nil when none runs
}

// NewMonitor returns a Monitor of no workloads.
func NewMonitor(cfg Config) *Monitor {
	m := &Monitor{
		probe:         cfg.Probe,
		startInterval: cfg.StartInterval,
		log:           cfg.Log,
		kick:          make(chan struct{}, 1),
		entries:       map[string]*entry{},
		changed:       make(chan struct{}),
	}
	if m.probe == nil {
		m.probe = NewProber(cfg.Exec).Probe
	}
	if m.startInterval <= 0 {
		m.startInterval = DefaultStartInterval
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// Set makes ws the monitored workloads. A workload whose spec hash is
// unchanged keeps its verdict and its probe schedule; a new or changed one
// starts over as starting (its start period counts from now); the others
// are dropped. A workload without a health check is healthy at once, with
// the message "no health check".
func (m *Monitor) Set(ws []spec.Desired) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := make(map[string]bool, len(ws))
	for _, d := range ws {
		keep[d.Name] = true
		if e, ok := m.entries[d.Name]; ok && e.d.Hash == d.Hash {
			e.d = d
			continue
		}
		m.drop(d.Name)
		e := &entry{d: d, added: now, h: Health{Hash: d.Hash, State: Starting, Since: now}}
		if d.Spec.Health == nil {
			e.h.State, e.h.Message = Healthy, "no health check"
		}
		m.entries[d.Name] = e
	}
	for name := range m.entries {
		if !keep[name] {
			m.drop(name)
		}
	}
	m.broadcast()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// drop stops and forgets a workload. m.mu is held.
func (m *Monitor) drop(name string) {
	if e, ok := m.entries[name]; ok {
		if e.cancel != nil {
			e.cancel()
		}
		delete(m.entries, name)
	}
}

// broadcast wakes every Wait. m.mu is held.
func (m *Monitor) broadcast() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Get returns the workload's verdict; ok is false when it is not
// monitored.
func (m *Monitor) Get(name string) (h Health, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[name]
	if !ok {
		return Health{}, false
	}
	return e.h, true
}

// All returns every monitored workload's verdict, by name.
func (m *Monitor) All() map[string]Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Health, len(m.entries))
	for name, e := range m.entries {
		out[name] = e.h
	}
	return out
}

// Wait returns as soon as the workload of spec hash hash has a verdict:
// true when healthy, false when unhealthy. It keeps waiting while the
// workload is starting, or is not (yet) monitored with that hash; it
// returns ctx's error when ctx ends first.
func (m *Monitor) Wait(ctx context.Context, name, hash string) (healthy bool, err error) {
	for {
		m.mu.Lock()
		ch := m.changed
		e, ok := m.entries[name]
		if ok && e.d.Hash == hash && e.h.State != Starting {
			healthy := e.h.State == Healthy
			m.mu.Unlock()
			return healthy, nil
		}
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Run probes the monitored workloads until ctx ends, then stops every
// probe and returns.
func (m *Monitor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer m.stopAll()
	for {
		m.startWorkers(ctx, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		}
	}
}

// startWorkers starts a probe goroutine for each workload with a health
// check that has none.
func (m *Monitor) startWorkers(ctx context.Context, wg *sync.WaitGroup) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.entries))
	for name := range m.entries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e := m.entries[name]
		if e.cancel != nil || e.d.Spec.Health == nil {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		e.cancel = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.work(wctx, e)
		}()
	}
}

func (m *Monitor) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if e.cancel != nil {
			e.cancel()
			e.cancel = nil
		}
	}
}

// work probes one workload until ctx ends: at once, then every period
// (every start interval while starting).
func (m *Monitor) work(ctx context.Context, e *entry) {
	s := settingsOf(e.d.Spec.Health)
	d := e.d
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.timeout)
		err := m.probe(pctx, d)
		cancel()
		if ctx.Err() != nil {
			return
		}
		next := s.period
		if m.record(ctx, e, s, err) == Starting {
			next = min(next, m.startInterval)
		}
		timer.Reset(next)
	}
}

// record applies one probe result to e and returns its state.
func (m *Monitor) record(ctx context.Context, e *entry, s probeSettings, err error) State {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[e.d.Name] != e {
		return e.h.State // dropped or replaced meanwhile
	}
	h := &e.h
	prev := h.State
	h.LastProbe = now
	if err == nil {
		h.ConsecutiveFailures, h.Message = 0, ""
		if h.State != Healthy {
			h.State, h.Since = Healthy, now
		}
	} else if NotRun(err) {
		// The probe could not run (containerd not answering an exec):
		// that says nothing of the workload, whose verdict stands.
		h.Message = "probe not run: " + err.Error()
	} else {
		h.Message = err.Error()
		inGrace := h.State == Starting && now.Sub(e.added) < s.start
		if !inGrace {
			h.ConsecutiveFailures++
			if h.ConsecutiveFailures >= s.threshold && h.State != Unhealthy {
				h.State, h.Since = Unhealthy, now
			}
		}
	}
	if h.State != prev {
		m.log.InfoContext(ctx, "health changed", logKeyWorkload, e.d.Name, logKeyState, string(h.State), logKeyMessage, h.Message)
		m.broadcast()
	}
	return h.State
}

// NotRun reports whether a probe's err says the probe could not run at all
// (an error explicitly classed fault.Transient, such as the runtime's when
// containerd is not serving), as opposed to the workload failing it. An
// unclassified error is the workload's failure.
func NotRun(err error) bool {
	var c fault.Classed
	return errors.As(err, &c) && c.Fault() == fault.Transient
}
