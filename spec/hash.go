package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// HashSpec returns "sha256:<hex>" of the canonical JSON form of s. It is
// stable across map order and equal for specs that run the same container:
// defaults are applied first, memory and CPU are compared as numbers ("1Gi"
// equals "1024Mi", "0.5" equals "500m") and ports as a set. Every field that
// reaches the container or its supervision changes it; UpdateLock, which
// only decides when an update happens, does not.
//
// The canonical form omits zero values, so a field added to WorkloadSpec
// later leaves the hash of specs that do not use it unchanged. (The
// sandbox's network, whose default is always written, changed every hash
// once, on purpose: see canonicalSpec.)
func HashSpec(s WorkloadSpec) string {
	s = cloneSpec(s)
	s.setDefaults()
	slices.Sort(s.Ports)
	c := canonicalSpec{
		Image:                  s.Image,
		Args:                   s.Args,
		Env:                    s.Env,
		Ports:                  s.Ports,
		Mounts:                 s.Mounts,
		GPUs:                   s.Resources.GPUs,
		Restart:                s.Restart,
		User:                   s.User,
		ReadOnlyRootFilesystem: s.ReadOnlyRootFilesystem,
		Network:                s.Network,
		CapAdd:                 s.Capabilities.Add,
		CapDrop:                s.Capabilities.Drop,
		Secrets:                canonicalSecrets(s.Secrets),
	}
	c.StopSignal, c.StopTimeout = stopHashed(s)
	slices.Sort(c.CapAdd)
	slices.Sort(c.CapDrop)
	if h := s.Health; h != nil {
		c.Health = &canonicalHealth{
			HTTP:             h.HTTP,
			TCP:              h.TCP,
			Exec:             h.Exec,
			StartPeriod:      int64(h.StartPeriod.Duration),
			Period:           int64(h.Period.Duration),
			Timeout:          int64(h.Timeout.Duration),
			FailureThreshold: h.FailureThreshold,
		}
	}
	if s.Resources.Memory != "" {
		c.Memory = s.Resources.Memory
		if n, err := ParseMemory(s.Resources.Memory); err == nil {
			c.Memory = n
		}
	}
	if s.Resources.CPU != "" {
		c.CPU = s.Resources.CPU
		if n, err := ParseCPU(s.Resources.CPU); err == nil {
			c.CPU = n
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		// Every field of canonicalSpec marshals; this cannot happen.
		panic("spec: marshal canonical spec: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// canonicalSpec is the form HashSpec hashes. encoding/json writes struct
// fields in this order and map keys sorted.
type canonicalSpec struct {
	Image   string            `json:"image"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Ports   []int             `json:"ports,omitempty"`
	Mounts  []Mount           `json:"mounts,omitempty"`
	Memory  any               `json:"memory,omitempty"` // bytes, or the text when it does not parse
	CPU     any               `json:"cpu,omitempty"`    // millicores, likewise
	GPUs    int               `json:"gpus,omitempty"`
	Health  *canonicalHealth  `json:"health,omitempty"`
	Restart string            `json:"restart,omitempty"`
	Secrets []canonicalSecret `json:"secrets,omitempty"`
	// StopSignal and StopTimeout (ns): the container keeps them as labels.
	StopSignal  string `json:"stopSignal,omitempty"`
	StopTimeout int64  `json:"stopTimeout,omitempty"`
	// The sandbox: Network is always set once defaults apply, so every
	// spec hashed before the sandbox existed hashes differently now, and
	// an agent that gains the sandbox replaces what runs without it.
	User                   string   `json:"user,omitempty"`
	ReadOnlyRootFilesystem bool     `json:"readOnlyRootFilesystem,omitempty"`
	Network                string   `json:"network,omitempty"`
	CapAdd                 []string `json:"capAdd,omitempty"`
	CapDrop                []string `json:"capDrop,omitempty"`
}

// canonicalHealth is Health with durations in nanoseconds.
type canonicalHealth struct {
	HTTP             *HTTPProbe `json:"http,omitempty"`
	TCP              *TCPProbe  `json:"tcp,omitempty"`
	Exec             *ExecProbe `json:"exec,omitempty"`
	StartPeriod      int64      `json:"startPeriod,omitempty"`
	Period           int64      `json:"period,omitempty"`
	Timeout          int64      `json:"timeout,omitempty"`
	FailureThreshold int        `json:"failureThreshold,omitempty"`
}
