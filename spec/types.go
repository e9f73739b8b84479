// Package spec is the fleet-repo format: the kinds Fleet, Workload, Group and
// Node, their strict decoding with errors that name file, line and field, and
// the resolution of one node's desired workloads. It also gives registry
// settings their one meaning: ParseImageRef splits an image reference, and
// Sources lists where an image is read (its registry's mirrors, with their
// path prefixes, then the registry; plain HTTP where fleet.yaml says so).
//
// spec is pure data: it reads an fs.FS and never touches the network, the
// disk outside that FS, or a logger.
package spec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// APIVersion is the only apiVersion this version of gitfleet reads.
const APIVersion = "gitfleet.dev/v1alpha1"

// The kinds of document in a fleet repo.
const (
	KindFleet    = "Fleet"
	KindWorkload = "Workload"
	KindGroup    = "Group"
	KindNode     = "Node"
)

// Restart policies.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// Network modes of a workload (WorkloadSpec.Network).
const (
	// NetworkIsolated (default) gives the container its own network
	// namespace on a bridge; its declared ports are mapped to the same
	// ports on every host interface.
	NetworkIsolated = "isolated"
	// NetworkNone gives it a network namespace with only loopback.
	NetworkNone = "none"
	// NetworkHost shares the host's network namespace; fleet.yaml's
	// spec.sandbox.allowHostNetwork must allow it.
	NetworkHost = "host"
)

// Trust modes for commits.
const (
	CommitModeHead = "head"
	CommitModeAll  = "all"
)

// TypeMeta identifies a document's schema.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ObjectMeta names a document and carries its labels.
type ObjectMeta struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s", "1h").
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	d.Duration = v
	return nil
}

// Fleet is fleet.yaml: settings that apply to every node.
type Fleet struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     FleetSpec  `json:"spec"`
}

// FleetSpec holds the fleet-wide settings.
type FleetSpec struct {
	// PollInterval is how often agents ask for the branch head. Default 30s.
	PollInterval Duration `json:"pollInterval,omitempty"`
	// Registries lists per-registry settings (plain HTTP for lab registries, mirrors).
	Registries []Registry `json:"registries,omitempty"`
	// HostPaths are the only host directories a workload may mount (a mount's
	// source must be one of them or below one).
	HostPaths []string `json:"hostPaths,omitempty"`
	// Trust names the keys that commits and images must be signed with.
	Trust Trust `json:"trust,omitempty"`
	// Status configures the status reports agents write back.
	Status StatusSettings `json:"status,omitempty"`
	// Poll configures how agents learn of a new head; nil: by git polls alone.
	Poll *PollSettings `json:"poll,omitempty"`
	// Sandbox is what workloads may ask for beyond the default sandbox.
	Sandbox SandboxPolicy `json:"sandbox,omitempty"`
}

// PollSettings configures how agents learn of a new head.
type PollSettings struct {
	// URL is an http(s) URL whose body is the tracked branch's head commit
	// id, published on every push (docs/scale.md). Agents poll it with
	// conditional requests and ask Git only when it changes or fails; it
	// is a hint: what runs is still fetched from Git and verified.
	URL string `json:"url,omitempty"`
	// MaxStale is how long a head read from URL may go unconfirmed by a
	// git poll. Zero means 10 × pollInterval.
	MaxStale Duration `json:"maxStale,omitempty"`
}

// SandboxPolicy bounds what a workload may loosen in its sandbox.
type SandboxPolicy struct {
	// AllowedCapabilities are the capabilities a workload's
	// capabilities.add may name (besides those in the default set), e.g.
	// NET_RAW. Default none.
	AllowedCapabilities []string `json:"allowedCapabilities,omitempty"`
	// AllowHostNetwork lets workloads ask for network: host.
	AllowHostNetwork bool `json:"allowHostNetwork,omitempty"`
}

// Trust names the repo's keys, as paths relative to the repo root.
type Trust struct {
	Commits CommitTrust `json:"commits,omitempty"`
	Images  ImageTrust  `json:"images,omitempty"`
}

// CommitTrust names the keys commits must be signed with.
type CommitTrust struct {
	// Mode is "head" (default: only the new head must be signed) or "all".
	Mode           string   `json:"mode,omitempty"`
	AllowedSigners string   `json:"allowedSigners,omitempty"`
	OpenPGPKeys    []string `json:"openpgpKeys,omitempty"`
}

// ImageTrust names the cosign public keys images must be signed with.
type ImageTrust struct {
	Keys []string `json:"keys,omitempty"`
}

// StatusSettings configures status reports.
type StatusSettings struct {
	// Heartbeat is how often a report is committed when nothing changed. Default 1h.
	Heartbeat Duration `json:"heartbeat,omitempty"`
}

// Workload is workloads/<name>.yaml: one model container.
type Workload struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta   `json:"metadata"`
	Spec     WorkloadSpec `json:"spec"`
}

// WorkloadSpec describes how to run one model container.
type WorkloadSpec struct {
	// Image is a reference pinned by digest: host/repo@sha256:<64 hex>.
	Image     string            `json:"image"`
	Args      []string          `json:"args,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Ports     []int             `json:"ports,omitempty"`
	Mounts    []Mount           `json:"mounts,omitempty"`
	Resources Resources         `json:"resources,omitempty"`
	Health    *Health           `json:"health,omitempty"`
	// Restart is always (default), on-failure or never.
	Restart string `json:"restart,omitempty"`
	// StopSignal is the signal that asks the workload to stop (one of
	// StopSignals); default SIGTERM.
	StopSignal string `json:"stopSignal,omitempty"`
	// StopTimeout is how long the workload has to exit after StopSignal
	// before SIGKILL: more than 0, at most 10 minutes; default 10 s.
	StopTimeout *Duration `json:"stopTimeout,omitempty"`
	// UpdateLock lets the workload or a person on site defer its updates.
	// It does not change the container, so it is not part of HashSpec.
	UpdateLock *UpdateLock `json:"updateLock,omitempty"`
	// MinSignatures is how many distinct trusted image keys must have signed
	// the image (default 1). It decides whether the image runs, not how, so
	// it is not part of HashSpec.
	MinSignatures int `json:"minSignatures,omitempty"`
	// Secrets are values the repo holds encrypted (see Secret).
	Secrets []Secret `json:"secrets,omitempty"`

	// The sandbox (docs/sandbox.md): every workload runs with a seccomp
	// profile, no-new-privileges and a small default set of capabilities.

	// User runs the process as uid[:gid], or as a user (and group) named
	// in the image's /etc/passwd and /etc/group. Default: the image's user.
	User string `json:"user,omitempty"`
	// ReadOnlyRootFilesystem mounts the image's root filesystem read-only.
	ReadOnlyRootFilesystem bool `json:"readOnlyRootFilesystem,omitempty"`
	// Network is isolated (default), none or host.
	Network string `json:"network,omitempty"`
	// Capabilities adds to or drops from the default capabilities.
	Capabilities Capabilities `json:"capabilities,omitempty"`
}

// Capabilities changes a container's Linux capabilities, named without the
// CAP_ prefix (NET_RAW). Drop may name ALL; it applies before Add.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// UpdateLock defers a workload's updates while a file exists on the host.
type UpdateLock struct {
	// Path is the lock file: absolute, clean, under one of fleet.yaml's
	// spec.hostPaths (so that a workload can mount its folder and create it).
	Path string `json:"path"`
	// MaxDeferral is how long an update may wait for the lock to go away,
	// counted from when the update became pending: more than 0, at most 7 days.
	MaxDeferral Duration `json:"maxDeferral"`
}

// MaxDeferral bounds UpdateLock.MaxDeferral.
const MaxDeferral = 7 * 24 * time.Hour

// Mount binds a host directory into the container.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Resources limits a container. Memory is a Kubernetes-style quantity
// ("256Mi", "1G"), CPU a number of cores ("0.5", "2" or "500m").
type Resources struct {
	Memory string `json:"memory,omitempty"`
	CPU    string `json:"cpu,omitempty"`
	GPUs   int    `json:"gpus,omitempty"`
}

// Health describes how to probe a workload. Exactly one of HTTP, TCP, Exec.
type Health struct {
	HTTP             *HTTPProbe `json:"http,omitempty"`
	TCP              *TCPProbe  `json:"tcp,omitempty"`
	Exec             *ExecProbe `json:"exec,omitempty"`
	StartPeriod      Duration   `json:"startPeriod,omitempty"`
	Period           Duration   `json:"period,omitempty"`
	Timeout          Duration   `json:"timeout,omitempty"`
	FailureThreshold int        `json:"failureThreshold,omitempty"`
}

// HTTPProbe succeeds on a 2xx or 3xx answer.
type HTTPProbe struct {
	Port int    `json:"port"`
	Path string `json:"path,omitempty"`
}

// TCPProbe succeeds when a connection opens.
type TCPProbe struct {
	Port int `json:"port"`
}

// ExecProbe succeeds when the command exits 0 inside the container.
type ExecProbe struct {
	Command []string `json:"command"`
}

// Group is groups/<name>.yaml: a label selector and the workloads it assigns.
type Group struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     GroupSpec  `json:"spec"`
}

// GroupSpec assigns workloads to the nodes its selector matches.
type GroupSpec struct {
	Selector  Selector            `json:"selector"`
	Workloads []string            `json:"workloads"`
	Overrides map[string]Override `json:"overrides,omitempty"`
	// Rollout applies a new revision to the group's nodes in waves; nil
	// lets every node apply it at its next poll.
	Rollout *Rollout `json:"rollout,omitempty"`
}

// Rollout orders the nodes of a group in waves. A node belongs to the
// first wave that takes it; nodes no wave takes form an implicit last wave
// (ImplicitWave). A node of wave k applies a revision only once the nodes
// of wave k-1 report it applied and healthy, as Gate says.
type Rollout struct {
	Waves []Wave `json:"waves"`
	Gate  Gate   `json:"gate,omitempty"`
}

// ImplicitWave names the wave of the nodes that no wave of a rollout takes.
// It is not a valid wave name, so it cannot clash with one.
const ImplicitWave = "(rest)"

// Wave is one step of a rollout: the remaining nodes its selector matches,
// or Percent of the remaining nodes (chosen by a stable hash of the group
// and node names), or, with neither, every remaining node.
type Wave struct {
	Name     string    `json:"name"`
	Selector *Selector `json:"selector,omitempty"`
	Percent  int       `json:"percent,omitempty"`
}

// CatchAll reports whether w takes every node that reaches it.
func (w Wave) CatchAll() bool {
	return w.Percent == 100 || w.Percent == 0 && (w.Selector == nil || len(w.Selector.MatchLabels) == 0)
}

// Gate is what the nodes of a wave must report before the next wave
// applies a revision.
type Gate struct {
	// HealthyFor is how long a node must have been ready on the revision.
	// Default 0: ready is enough.
	HealthyFor Duration `json:"healthyFor,omitempty"`
	// MinHealthy is the share of the wave's nodes that must be so, as a
	// percentage ("90%"). Default "100%".
	MinHealthy string `json:"minHealthy,omitempty"`
}

// DefaultMinHealthy is Gate.MinHealthy when it is empty.
const DefaultMinHealthy = "100%"

// Percent returns MinHealthy as a number (1 to 100), DefaultMinHealthy
// when empty; ok is false when it is not a valid percentage.
func (g Gate) Percent() (n int, ok bool) {
	s := g.MinHealthy
	if s == "" {
		s = DefaultMinHealthy
	}
	digits, found := strings.CutSuffix(s, "%")
	if !found || digits == "" || len(digits) > 3 || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > 100 {
		return 0, false
	}
	return n, true
}

// Selector matches nodes whose labels include every MatchLabels pair.
// An empty selector matches every node.
type Selector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// Override changes a workload for the nodes of a group or for one node.
// Env is merged key by key; every other set field replaces the workload's.
type Override struct {
	Image     string            `json:"image,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Ports     []int             `json:"ports,omitempty"`
	Mounts    []Mount           `json:"mounts,omitempty"`
	Resources *Resources        `json:"resources,omitempty"`
	Health    *Health           `json:"health,omitempty"`
	Restart   string            `json:"restart,omitempty"`
	// UpdateLock replaces the workload's update lock.
	UpdateLock *UpdateLock `json:"updateLock,omitempty"`
	// Secrets replaces the workload's secrets, e.g. with a value of the
	// node's own.
	Secrets []Secret `json:"secrets,omitempty"`
	// The sandbox fields replace the workload's.
	User                   string        `json:"user,omitempty"`
	ReadOnlyRootFilesystem *bool         `json:"readOnlyRootFilesystem,omitempty"`
	Network                string        `json:"network,omitempty"`
	Capabilities           *Capabilities `json:"capabilities,omitempty"`
}

// Node is nodes/<name>.yaml: a node's labels and its own overrides.
type Node struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta `json:"metadata"`
	Spec     NodeSpec   `json:"spec,omitempty"`
}

// NodeSpec adds workloads to one node and overrides them for it.
type NodeSpec struct {
	Workloads []string            `json:"workloads,omitempty"`
	Overrides map[string]Override `json:"overrides,omitempty"`
	// AgeRecipient is the node's age public key ("age1…", printed by
	// `fleetd --print-age-recipient`): secrets for the node are encrypted
	// to it.
	AgeRecipient string `json:"ageRecipient,omitempty"`
	// StatusKey is the node's status key, one SSH public key line
	// ("ssh-ed25519 AAAA… fleetd@node", printed by `fleetd
	// --print-status-key`): the node signs its status commits with it, and
	// rollout gates and fleetctl status trust only reports so signed.
	StatusKey string `json:"statusKey,omitempty"`
}

// Desired is one workload as a node must run it: overrides applied.
type Desired struct {
	Name string
	Spec WorkloadSpec
	// Hash is a stable hash of Spec ("sha256:<hex>" of its canonical JSON);
	// it changes exactly when the container must be replaced.
	Hash string
	// HostPaths are fleet.yaml's spec.hostPaths when the workload was
	// resolved: the roots the runtime resolves each mount source beneath,
	// again at every start, without following links. They decide where a
	// mount may come from, not what runs, so they are not part of Hash.
	HostPaths []string `json:",omitempty"`
}
