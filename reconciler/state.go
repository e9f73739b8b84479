package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/status"

	"github.com/gitfleet/gitfleet/durable"
)

// state is what survives an agent restart besides the containers' labels:
// the last revision applied in full, so that a restarted agent neither
// re-applies nor accepts a revision older than it, and each workload's last
// known good spec and failed spec, so that a restarted agent keeps a rolled
// back workload on its fallback.
type state struct {
	AppliedRevision string                  `json:"appliedRevision"`
	Fallback        map[string]spec.Desired `json:"fallback,omitempty"`
	Previous        map[string]spec.Desired `json:"previous,omitempty"`
	Failed          map[string]failure      `json:"failed,omitempty"`
	// Outage is the ongoing or last outage, so that an agent restarted
	// during one (a fleetd --once run each poll, say) goes on counting it
	// and the first report once the git server is back still says it.
	Outage *status.Outage `json:"outage,omitempty"`
	// Gates are the attestations of the node's reports (attest.go), so
	// that a restarted attester does not take back its word.
	Gates []status.GateOpened `json:"gates,omitempty"`
}

func loadState(file string) (state, error) {
	s := state{Fallback: map[string]spec.Desired{}, Previous: map[string]spec.Desired{}, Failed: map[string]failure{}}
	if file == "" {
		return s, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read state %s: %w", file, err)
	}
	if s.Fallback == nil {
		s.Fallback = map[string]spec.Desired{}
	}
	if s.Previous == nil {
		s.Previous = map[string]spec.Desired{}
	}
	if s.Failed == nil {
		s.Failed = map[string]failure{}
	}
	return s, nil
}

// save writes the state file atomically (temp file, then rename).
func (r *Reconciler) save() error {
	file := r.cfg.StateFile
	if file == "" {
		return nil
	}
	b, err := json.Marshal(state{AppliedRevision: r.applied, Fallback: r.fallback, Previous: r.previous, Failed: r.failed, Outage: r.outage, Gates: r.attested})
	if err != nil {
		return err
	}
	if err := durable.WriteFile(file, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}
