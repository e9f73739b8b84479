// Package status is the node status report that fleetd commits back to the
// fleet repo as status/<node>.yaml, and the runtime's view of one container.
// It is pure data: no I/O, no logging.
package status

import "time"

// APIVersion and Kind of a status report.
const (
	APIVersion = "gitfleet.dev/v1alpha1"
	Kind       = "NodeStatus"
)

// Workload states.
const (
	StateRunning = "running"
	StateStopped = "stopped"
	StateCreated = "created"
	StateMissing = "missing"
	StatePending = "pending"
	StateFailed  = "failed"
)

// NodeStatus is status/<node>.yaml.
type NodeStatus struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   Meta   `json:"metadata"`
	Status     Status `json:"status"`
	// Trust is what the reader of the report found about who wrote it (its
	// commit's signature against the node's enrolled status key). It is
	// never part of the YAML: a report cannot vouch for itself. The zero
	// value is untrusted.
	Trust Trust `json:"-"`
}

// Trust says whether a report read from a node's status ref was written by
// that node: its commit is signed by the status key enrolled for the node
// (nodes/<node>.yaml spec.statusKey). An untrusted report is never counted
// healthy by a rollout gate.
type Trust struct {
	Trusted bool
	// Reason says why a report is untrusted (unsigned, signed by another
	// key, no key enrolled), or names the key that signed a trusted one.
	Reason string
}

// Meta names the node.
type Meta struct {
	Name string `json:"name"`
}

// Status is what the node reports.
type Status struct {
	// ObservedRevision is the branch head the node saw last.
	ObservedRevision string `json:"observedRevision,omitempty"`
	// AppliedRevision is the last revision applied in full.
	AppliedRevision string `json:"appliedRevision,omitempty"`
	// LastSeen is when the report was made.
	LastSeen time.Time `json:"lastSeen"`
	// VerificationDisabled is true when fleetd runs with --insecure-skip-verify.
	VerificationDisabled bool `json:"verificationDisabled,omitempty"`
	// Poll says how the node learns of new revisions.
	Poll       *Poll       `json:"poll,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
	Workloads  []Workload  `json:"workloads,omitempty"`
	Errors     []Error     `json:"errors"`
	// Outage is the ongoing or the last outage (see Outage); nil if none
	// since the agent started.
	Outage *Outage `json:"outage,omitempty"`
	// Gates are the rollout gates this node opened for the revision it
	// observed by reading every report of the wave they await, as one of
	// its own wave's attesters (rollout.Assignment.Attesters): the other
	// nodes of its wave open on two such attestations instead of each
	// reading that whole wave.
	Gates []GateOpened `json:"gates,omitempty"`
}

// GateOpened is a node's attestation that a rollout gate opened: when it
// read the reports of the wave the gate awaits, at least the gate's
// minHealthy of them were trusted, fresh and healthy on the revision for
// its healthyFor. Being in the node's signed report, it is as trusted as
// the report.
type GateOpened struct {
	// Group names the rollout group, Wave the wave whose health opened the
	// gate (the awaited wave), Revision the revision it opened for.
	Group    string `json:"group"`
	Wave     string `json:"wave"`
	Revision string `json:"revision"`
	// Healthy of Of nodes of that wave counted healthy.
	Healthy int `json:"healthy"`
	Of      int `json:"of"`
	// At is when the node read them.
	At time.Time `json:"at"`
}

// Condition is a Kubernetes-style condition ("Ready", "True", reason, message).
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// LastTransitionTime is when Status last changed: a report that keeps
	// the status keeps the time. For Ready, an update of the node's
	// workloads is a change too (the node was progressing in between, even
	// when no report showed it), so a Ready condition tells since when the
	// node has been ready on what it runs. Rollout gates read it.
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
}

// Condition types and statuses.
const (
	ConditionReady = "Ready"
	ConditionTrue  = "True"
	ConditionFalse = "False"
)

// Reasons of the Ready condition: what the agent's last pass came to. The
// three that are False for an error follow the agent's error classes
// (refused, retrying, waiting).
const (
	// ReasonApplied: the applied revision's workloads run and are healthy.
	ReasonApplied = "Applied"
	// ReasonProgressing: applied, but not every workload is healthy yet.
	ReasonProgressing = "Progressing"
	// ReasonRefused: a new revision (or a setting the agent needs) was
	// refused; it is not tried again until the branch moves.
	ReasonRefused = "Refused"
	// ReasonRetrying: something failed that a retry may fix (a server or
	// registry down, containerd busy); the agent retries with backoff.
	// Agents before it wrote "Failing".
	ReasonRetrying = "Retrying"
	// ReasonWaiting: a new revision waits for a rollout wave or an update
	// lock.
	ReasonWaiting = "Waiting"
	// ReasonRolledBack: a workload's new version failed and its last known
	// good version runs again.
	ReasonRolledBack = "RolledBack"
)

// Condition returns the condition of type typ, or nil.
func (s *Status) Condition(typ string) *Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == typ {
			return &s.Conditions[i]
		}
	}
	return nil
}

// Poll says how a node learns of new revisions: which path its polls take
// and, for git polls, which protocol the server speaks.
type Poll struct {
	// Via is PollViaHeadURL while the fleet's static head URL answers and
	// agrees with the branch (git is asked only when it changes, and now
	// and then to confirm it), else PollViaGit.
	Via string `json:"via"`
	// Protocol is the git protocol of the node's git polls: "v2" (the
	// tracked branch alone) or "v0" (every ref of the repository).
	Protocol string `json:"protocol,omitempty"`
	// Message says why a configured head URL is not used.
	Message string `json:"message,omitempty"`
}

// Poll paths.
const (
	PollViaGit     = "git"
	PollViaHeadURL = "head-url"
)

// Workload is one workload's state on the node.
type Workload struct {
	Name     string `json:"name"`
	Image    string `json:"image"`
	State    string `json:"state"`
	Health   string `json:"health,omitempty"`
	Restarts int    `json:"restarts"`
	ExitCode *int   `json:"exitCode,omitempty"`
	Message  string `json:"message,omitempty"`
	// LogTail is the end of the log of a workload that fails (stopped,
	// failed, unhealthy, crash looping), secret values removed, so the
	// reason can be read without a shell on the node. It alone never makes
	// a report worth a commit (see Changes).
	LogTail string `json:"logTail,omitempty"`
}

// Error is one reason something was not applied. File, Line and Field place
// a spec error; Ref names a git ref, commit or image instead.
type Error struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Field  string `json:"field,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason"`
}

// Instance is one container the agent owns, as the runtime reports it. The
// runtime rebuilds it from container labels alone after an agent restart.
type Instance struct {
	Workload  string
	ID        string
	SpecHash  string
	Revision  string
	Image     string
	State     string // StateRunning, StateStopped, StateCreated
	PID       uint32
	ExitCode  int
	StartedAt time.Time
}
