package runtime

import (
	"errors"
	"time"
)

// Defaults of Config.
const (
	DefaultAddress     = "/run/containerd/containerd.sock"
	DefaultNamespace   = "gitfleet"
	DefaultSnapshotter = "overlayfs"
	DefaultRuntime     = "io.containerd.runc.v2"
	DefaultStopTimeout = 10 * time.Second
)

// Config configures the containerd adapter. New fills in the defaults of
// unset fields.
type Config struct {
	// Address is containerd's socket. Default DefaultAddress.
	Address string
	// Namespace is the containerd namespace of everything the agent creates.
	// Default "gitfleet".
	Namespace string
	// LogDir holds one log file per workload, <LogDir>/<workload>.log.
	// Required.
	LogDir string
	// Snapshotter unpacks images and holds root filesystems. Default
	// "overlayfs".
	Snapshotter string
	// Runtime is the containerd runtime (shim) of new containers. Default
	// "io.containerd.runc.v2".
	Runtime string
	// StopTimeout is how long a stopped container may take to exit after
	// SIGTERM before it gets SIGKILL. Default 10s.
	StopTimeout time.Duration
}

// Validate reports whether c is usable once the defaults are filled in.
func (c *Config) Validate() error {
	var errs []error
	if c.LogDir == "" {
		errs = append(errs, errors.New("runtime: LogDir is required"))
	}
	if c.StopTimeout < 0 {
		errs = append(errs, errors.New("runtime: StopTimeout must not be negative"))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every unset field set to its default.
func (c Config) withDefaults() Config {
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Snapshotter == "" {
		c.Snapshotter = DefaultSnapshotter
	}
	if c.Runtime == "" {
		c.Runtime = DefaultRuntime
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	return c
}
