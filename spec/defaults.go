package spec

import "time"

// Defaults that Parse fills in when a field is absent or zero.
const (
	DefaultPollInterval     = 30 * time.Second
	DefaultHeartbeat        = time.Hour
	DefaultHealthPeriod     = 10 * time.Second
	DefaultHealthTimeout    = 2 * time.Second
	DefaultFailureThreshold = 3
)

func (s *FleetSpec) setDefaults() {
	if s.PollInterval.Duration == 0 {
		s.PollInterval.Duration = DefaultPollInterval
	}
	if s.Status.Heartbeat.Duration == 0 {
		s.Status.Heartbeat.Duration = DefaultHeartbeat
	}
	if s.Trust.Commits.Mode == "" {
		s.Trust.Commits.Mode = CommitModeHead
	}
}

func (s *WorkloadSpec) setDefaults() {
	if s.Restart == "" {
		s.Restart = RestartAlways
	}
	if s.Network == "" {
		s.Network = NetworkIsolated
	}
	s.Health.setDefaults()
}

// setDefaults fills an override's health block, which replaces the
// workload's whole block; an override's other fields stay unset.
func (o *Override) setDefaults() { o.Health.setDefaults() }

func (h *Health) setDefaults() {
	if h == nil {
		return
	}
	if h.Period.Duration == 0 {
		h.Period.Duration = DefaultHealthPeriod
	}
	if h.Timeout.Duration == 0 {
		h.Timeout.Duration = DefaultHealthTimeout
	}
	if h.FailureThreshold == 0 {
		h.FailureThreshold = DefaultFailureThreshold
	}
}

func (r *Rollout) setDefaults() {
	if r == nil {
		return
	}
	if r.Gate.MinHealthy == "" {
		r.Gate.MinHealthy = DefaultMinHealthy
	}
}
