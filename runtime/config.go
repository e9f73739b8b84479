package runtime

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultAddress     = "/run/containerd/containerd.sock"
	DefaultNamespace   = "gitfleet"
	DefaultSnapshotter = "overlayfs"
	DefaultRuntime     = "io.containerd.runc.v2"
	DefaultStopTimeout = 10 * time.Second
	// DefaultReserveBytes is the disk space a pull leaves free.
	DefaultReserveBytes = 256 << 20
	// DefaultRunDir holds the host state containers use while they exist.
	DefaultRunDir = "/run/gitfleet"
	// DefaultCDIDevicePrefix names GPU n as the CDI device
	// "nvidia.com/gpu=<n>", as NVIDIA's nvidia-ctk generates them.
	DefaultCDIDevicePrefix = "nvidia.com/gpu"
	// DefaultLogMaxBytes, DefaultLogMaxFiles and DefaultLogTailBytes cap
	// a workload's logs at 10 MiB plus 3 rotated files of that size, and
	// put the last 4 KiB of a failing workload's log in its report.
	DefaultLogMaxBytes  = 10 << 20
	DefaultLogMaxFiles  = 3
	DefaultLogTailBytes = 4 << 10
)

// DefaultCDISpecDirs are where CDI spec files are looked for, lowest
// priority first (a device in a later directory wins).
var DefaultCDISpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

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
	// LogMaxBytes is the size past which RotateLogs moves a workload's log
	// to <workload>.log.1 (older ones to .2 …). Default DefaultLogMaxBytes.
	LogMaxBytes int64
	// LogMaxFiles is how many rotated files of a log are kept. Default
	// DefaultLogMaxFiles.
	LogMaxFiles int
	// LogTailBytes is how much of the end of a failing workload's log
	// LogTail returns for its status report. Default DefaultLogTailBytes.
	LogTailBytes int
	// Snapshotter unpacks images and holds root filesystems. Default
	// "overlayfs".
	Snapshotter string
	// Runtime is the containerd runtime (shim) of new containers. Default
	// "io.containerd.runc.v2".
	Runtime string
	// StopTimeout is how long a stopped container may take to exit after
	// SIGTERM before it gets SIGKILL. Default 10s.
	StopTimeout time.Duration
	// CDIDevicePrefix is the CDI kind ("vendor/class") a workload's
	// resources.gpus are taken from: gpus: N asks for the devices
	// <prefix>=0 … <prefix>=N-1. Default "nvidia.com/gpu".
	CDIDevicePrefix string
	// CDIAllGPUs gives a workload with gpus ≥ 1 the single device
	// <prefix>=all instead of numbered ones.
	CDIAllGPUs bool
	// CDISpecDirs are the directories of CDI spec files. Default
	// DefaultCDISpecDirs.
	CDISpecDirs []string
	// RunDir holds what containers use on the host while they exist, in a
	// folder per containerd and namespace (rundir.go):
	// mounts/<container>/<n>, each mount source the agent opened and
	// checked, bound there before the task starts (mount.go), and
	// netns/<container>, the network namespace of an isolated workload
	// (network.go). It must be on a path only root can change, never below
	// a host path workloads may mount. Default DefaultRunDir; tmpfs suits
	// it: both are made again at the first start after a reboot.
	RunDir string
	// Bridge is the host bridge of isolated workloads. Default
	// DefaultBridge.
	Bridge string
	// Subnet is the IPv4 subnet isolated workloads get addresses from.
	// Default DefaultSubnet.
	Subnet string
	// CNIBinDirs are where the CNI plugins are looked for. Default
	// DefaultCNIBinDirs.
	CNIBinDirs []string
	// ReserveBytes is disk space a pull must leave free on the filesystem
	// of containerd's content store. Default DefaultReserveBytes.
	ReserveBytes int64
	// Secrets decrypts workloads' secrets (spec.Secret); a workload with
	// secrets fails to start without it.
	Secrets Decrypter
	// SecretDir holds decrypted secret files, a folder per container. It
	// must be on tmpfs. Default DefaultSecretDir.
	SecretDir string
	// RegistryLogin returns the login pulls from host use; ok false (or a
	// nil func) pulls anonymously. Never logged.
	RegistryLogin func(host string) (l RegistryLogin, ok bool)
	// OnPull, when set, is told about every pull from a registry that
	// fetched anything (an image already there is no pull), for metrics.
	OnPull func(PullStats)
	// RegistryTLS returns host's TLS settings (a client certificate, a CA);
	// nil for the system defaults.
	RegistryTLS func(host string) (*tls.Config, error)
}

// RegistryLogin is how a pull signs in to a registry, with the meaning of
// the Docker config.json fields: a user name and password, an identity
// (OAuth2 refresh) token, or a registry token sent as a bearer token.
type RegistryLogin struct {
	Username, Password string
	IdentityToken      string
	RegistryToken      string
}

// Validate reports whether c is usable once the defaults are filled in.
func (c *Config) Validate() error {
	var errs []error
	if c.LogDir == "" {
		errs = append(errs, errors.New("runtime: LogDir is required"))
	}
	if c.CDIDevicePrefix != "" && strings.Count(c.CDIDevicePrefix, "/") != 1 {
		errs = append(errs, fmt.Errorf("runtime: CDIDevicePrefix %q: want vendor/class, e.g. nvidia.com/gpu", c.CDIDevicePrefix))
	}
	if c.RunDir != "" && !filepath.IsAbs(c.RunDir) {
		errs = append(errs, fmt.Errorf("runtime: RunDir %q must be absolute", c.RunDir))
	}
	if c.Subnet != "" {
		if _, err := netip.ParsePrefix(c.Subnet); err != nil {
			errs = append(errs, fmt.Errorf("runtime: Subnet %q: %w", c.Subnet, err))
		}
	}
	if len(c.Bridge) > 15 {
		errs = append(errs, fmt.Errorf("runtime: Bridge %q: at most 15 characters", c.Bridge))
	}
	if c.StopTimeout < 0 {
		errs = append(errs, errors.New("runtime: StopTimeout must not be negative"))
	}
	if c.LogMaxBytes < 0 || c.LogMaxFiles < 0 || c.LogTailBytes < 0 {
		errs = append(errs, errors.New("runtime: LogMaxBytes, LogMaxFiles and LogTailBytes must not be negative"))
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
	if c.LogMaxBytes == 0 {
		c.LogMaxBytes = DefaultLogMaxBytes
	}
	if c.LogMaxFiles == 0 {
		c.LogMaxFiles = DefaultLogMaxFiles
	}
	if c.LogTailBytes == 0 {
		c.LogTailBytes = DefaultLogTailBytes
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
	if c.CDIDevicePrefix == "" {
		c.CDIDevicePrefix = DefaultCDIDevicePrefix
	}
	if c.RunDir == "" {
		c.RunDir = DefaultRunDir
	}
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.Subnet == "" {
		c.Subnet = DefaultSubnet
	}
	if len(c.CNIBinDirs) == 0 {
		c.CNIBinDirs = DefaultCNIBinDirs
	}
	if c.ReserveBytes == 0 {
		c.ReserveBytes = DefaultReserveBytes
	}
	if c.SecretDir == "" {
		c.SecretDir = DefaultSecretDir
	}
	if len(c.CDISpecDirs) == 0 {
		c.CDISpecDirs = DefaultCDISpecDirs
	}
	return c
}
