package reconciler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/status"
)

// attestGrace is how many poll intervals a held node of a large wave
// waits for its wave's attesters once the awaited wave looks healthy,
// before it reads that wave's reports itself: an attester may be down.
const attestGrace = 2

// MsgGateOpen is the log message of a rollout gate that opened for this
// node, with attribute "via" GateViaAttesters or GateViaReports.
const (
	MsgGateOpen      = "rollout gate open"
	GateViaAttesters = "attesters"
	GateViaReports   = "reports"
)

// attestedOpen asks the attesters of this node's wave (rollout's
// Attesters) whether they opened the gate for target: their reports
// alone, a few refs. true: the gate is open for this node too.
func (r *Reconciler) attestedOpen(ctx context.Context, target *revision, g gate, now time.Time, staleAfter time.Duration) (bool, error) {
	reports, err := r.deps.Reports.Reports(ctx, g.attesters, g.statusKeys)
	if err != nil {
		return false, fmt.Errorf("read reports of wave %s's attesters: %w", g.assign.Waves[g.assign.Wave].Name, err)
	}
	d, ok := g.assign.Attested(target.id, g.attesters, reports, now, staleAfter)
	if ok {
		r.gateOpen(target, g, GateViaAttesters, d)
	}
	return ok, nil
}

// gateOpen logs that a gate opened for target, via whom, and why.
func (r *Reconciler) gateOpen(target *revision, g gate, via string, d rollout.Decision) {
	r.log.Info(MsgGateOpen, "group", g.group.Metadata.Name, "wave", d.WaveName, keyRevision, short(target.id), "via", via, "reason", d.Reason)
}

// awaitAttesters holds target while the awaited wave looks healthy (its
// moved reports could open the gate) and the attesters have not said so,
// for attestGrace intervals from when this node first found it so; after
// that it returns nil and the node reads the awaited wave itself (its
// awaited reports), the read the attesters spare the rest of the wave.
func (r *Reconciler) awaitAttesters(target *revision, g gate, awaited int, now time.Time) error {
	if r.attestWaitRev != target.id || r.attestWait == nil {
		r.attestWait, r.attestWaitRev = map[string]time.Time{}, target.id
	}
	name := g.group.Metadata.Name
	since, ok := r.attestWait[name]
	if !ok {
		since = now
		r.attestWait[name] = now
	}
	interval := r.interval()
	if r.cfg.Interval <= 0 && target.fleet.PollInterval.Duration > 0 {
		interval = target.fleet.PollInterval.Duration
	}
	grace := attestGrace * interval
	if now.Sub(since) >= grace {
		return nil
	}
	a := g.assign
	return held(target.id, since.Add(grace).Sub(now), "group %s, wave %s: wave %s looks healthy on %s; waiting for %d of its attesters %s to say so, else reading its %d reports after %s",
		name, a.Waves[a.Wave].Name, a.Waves[rollout.Awaited(a.Waves, a.Wave)].Name, short(target.id),
		rollout.AttestQuorum, strings.Join(g.attesters, ", "), awaited, grace)
}

// attest keeps an attestation for this node's reports.
func (r *Reconciler) attest(o status.GateOpened) {
	i := slices.IndexFunc(r.attested, func(g status.GateOpened) bool {
		return g.Group == o.Group && g.Wave == o.Wave && g.Revision == o.Revision
	})
	if i >= 0 {
		return // the first word stands: reports keep it unchanged
	}
	r.attested = append(r.attested, o)
}

// attestations are the attestations for the revision observed last; those
// of earlier revisions are dropped.
func (r *Reconciler) attestations() []status.GateOpened {
	if r.observed != "" { // "" until the first poll after a start answers
		r.attested = slices.DeleteFunc(r.attested, func(g status.GateOpened) bool { return g.Revision != r.observed })
	}
	if len(r.attested) == 0 {
		r.attested = nil
		return nil
	}
	return slices.Clone(r.attested)
}
