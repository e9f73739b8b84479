package reconciler

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"
)

// Config holds what the reconciler needs to know about its node.
type Config struct {
	// Node is this node's name; it selects nodes/<Node>.yaml. Required.
	Node string
	// Labels are local labels; they win over the repo's labels for the node.
	Labels map[string]string
	// Interval between polls. Zero means the fleet's spec.pollInterval.
	Interval time.Duration
	// Jitter spreads polls of many nodes: each wait is scaled by a random
	// factor in [1-Jitter, 1+Jitter]. Default 0.1.
	Jitter float64
	// MinBackoff is the first wait after a transient failure; it doubles up
	// to the poll interval. Default 1s.
	MinBackoff time.Duration
	// InsecureSkipVerify applies revisions although no CommitVerifier is
	// set. Every status report then says verification is off.
	InsecureSkipVerify bool
	// Wake, when set, starts the next pass at once whenever it delivers,
	// instead of at the end of the wait.
	Wake <-chan struct{}
	// StateFile keeps the last applied revision across agent restarts.
	// Empty keeps it in memory only.
	StateFile string
}

// Default values.
const (
	DefaultInterval   = 30 * time.Second
	DefaultJitter     = 0.1
	DefaultMinBackoff = time.Second
)

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.Node == "" {
		errs = append(errs, errors.New("node name is required"))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %s is negative", c.Interval))
	}
	if c.Jitter < 0 || c.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("jitter %v must be in [0, 1)", c.Jitter))
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	return errors.Join(errs...)
}

// Deps are the adapters the reconciler drives. Source, Runtime and Reporter
// are required; a nil verifier means that check is off.
type Deps struct {
	Source   Source
	Runtime  Runtime
	Reporter Reporter
	Commits  CommitVerifier
	Images   ImageVerifier
	// Health gates a switch on the new container's health; without it a
	// started container counts as good.
	Health HealthChecker
	// Supervisor restarts exited containers; without it each pass does.
	Supervisor Supervisor
	// GC removes images no workload and no fallback needs after a change.
	GC ImageCollector
	// Reports reads other nodes' reports for rollout gates.
	Reports ReportReader
	// Observer, when set, is told about every pass.
	Observer Observer
	// Logs, when set, gives the end of a failing workload's log for its
	// report.
	Logs LogTailer
	Log  *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Reconciler keeps one node's containers equal to its desired state.
// It is not safe for concurrent use: one goroutine runs its passes.
type Reconciler struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	// applied is the last revision applied in full and current the
	// workloads and fleet settings it resolved to (the last good state).
	applied string
	current *revision
	// pending is a parsed revision whose apply failed transiently.
	pending *revision
	// refused is a revision that failed for good, with the reason; it is
	// not tried again until the branch moves.
	refused    string
	refusedErr error
	// loggedRefusal is the refusal last logged at WARN.
	loggedRefusal string
	observed      string
	restarts      map[string]int
	// fallback is each workload's last known good spec, previous the one
	// before it (for a crash loop that shows after the switch); failed the
	// specs that did not stay healthy (kept on their fallback until they
	// change).
	fallback map[string]spec.Desired
	previous map[string]spec.Desired
	failed   map[string]failure
	// acted notes the repairs of the last pass (drift, restarts) and
	// deferrals, by workload, for the report; changed says whether the
	// pass changed any container.
	acted   map[string]string
	changed bool
	// watching is what the health checker probes: the containers that run.
	watching map[string]spec.Desired
	// pendingSince is when an update held by a lock was first wanted.
	pendingSince map[string]pendingUpdate
	// seenOn is the other nodes whose report showed revision seenOnRev
	// applied when a rollout gate last read it (sampleMoved reads the
	// others first); cleared for each new revision.
	seenOn    map[string]bool
	seenOnRev string
	// nodeFiles keeps the other nodes' files parsed for rollout waves, for
	// the next revision.
	nodeFiles spec.NodeCache
	// ready is the last Ready status reported and since when it holds.
	readyStatus string
	readySince  time.Time
	// resumed are the workloads of the node's own last report, read once
	// after a start, so that an agent restart alone changes no workload's
	// health verdict or restart count (see carryOver).
	resumed map[string]status.Workload
	// outage is the ongoing or last outage (outage.go).
	outage *status.Outage
	// attested are the rollout gates this node opened as one of its
	// wave's attesters (attest.go), in its reports while their revision
	// is the one observed; attestWait, since when each gate of revision
	// attestWaitRev has waited for its attesters.
	attested      []status.GateOpened
	attestWait    map[string]time.Time
	attestWaitRev string
}

// revision is one parsed and resolved fleet revision.
type revision struct {
	id        string
	fleet     spec.FleetSpec
	desired   []spec.Desired
	imageKeys map[string][]byte
	// gates are the rollout groups that select this node.
	gates []gate
}

// New returns a reconciler; it reads the last applied revision from
// cfg.StateFile when there is one.
func New(cfg Config, deps Deps) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Source == nil || deps.Runtime == nil || deps.Reporter == nil {
		return nil, errors.New("reconciler: source, runtime and reporter are required")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	st, err := loadState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	return &Reconciler{cfg: cfg, deps: deps, log: deps.Log, applied: st.AppliedRevision,
		restarts: map[string]int{}, fallback: st.Fallback, previous: st.Previous, failed: st.Failed, acted: map[string]string{}, watching: map[string]spec.Desired{},
		pendingSince: map[string]pendingUpdate{}, outage: st.Outage, attested: st.Gates}, nil
}

// AppliedRevision returns the last revision applied in full.
func (r *Reconciler) AppliedRevision() string { return r.applied }

// interval is the wait between two polls.
func (r *Reconciler) interval() time.Duration {
	if r.cfg.Interval > 0 {
		return r.cfg.Interval
	}
	if r.current != nil && r.current.fleet.PollInterval.Duration > 0 {
		return r.current.fleet.PollInterval.Duration
	}
	return DefaultInterval
}
