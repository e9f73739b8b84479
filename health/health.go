package health

import (
	"context"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// State is a workload's health verdict.
type State string

// The verdicts.
const (
	// Starting: no verdict yet. A new or changed workload is starting until
	// a probe succeeds, or until, after its start period, FailureThreshold
	// probes in a row failed.
	Starting State = "starting"
	// Healthy: the last probe succeeded.
	Healthy State = "healthy"
	// Unhealthy: FailureThreshold probes in a row failed (after the start
	// period).
	Unhealthy State = "unhealthy"
)

// Health is one workload's verdict.
type Health struct {
	// Hash is the spec hash the verdict is about.
	Hash  string
	State State
	// Since is when State was entered.
	Since time.Time
	// Message is the last probe's error, or why there is no probe.
	Message string
	// ConsecutiveFailures counts the failed probes since the last success,
	// not counting those within the start period.
	ConsecutiveFailures int
	// LastProbe is when the last probe finished; zero before the first.
	LastProbe time.Time
}

// Execer runs a command inside a workload's container (of spec hash hash)
// and returns its exit code. runtime.Containerd satisfies it.
type Execer interface {
	ExecIn(ctx context.Context, workload, hash string, cmd []string, timeout time.Duration) (int, error)
}

// ProbeFunc probes a workload once; nil means it passed. ctx carries the
// probe's timeout.
type ProbeFunc func(ctx context.Context, d spec.Desired) error

// probeSettings are a workload's probe settings with defaults filled in.
type probeSettings struct {
	start, period, timeout time.Duration
	threshold              int
}

func settingsOf(h *spec.Health) probeSettings {
	s := probeSettings{start: h.StartPeriod.Duration, period: h.Period.Duration,
		timeout: h.Timeout.Duration, threshold: h.FailureThreshold}
	if s.period <= 0 {
		s.period = spec.DefaultHealthPeriod
	}
	if s.timeout <= 0 {
		s.timeout = spec.DefaultHealthTimeout
	}
	if s.threshold <= 0 {
		s.threshold = spec.DefaultFailureThreshold
	}
	return s
}
