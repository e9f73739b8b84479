package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/agentapi"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/spec"
)

// Config is the agent's configuration: a YAML file (--config) whose values
// the command-line flags override. Every field is documented in
// docs/agent.md.
type Config struct {
	Repo               string            `json:"repo"`
	Branch             string            `json:"branch,omitempty"`
	Node               string            `json:"node,omitempty"`
	Labels             map[string]string `json:"labels,omitempty"`
	ContainerdAddress  string            `json:"containerdAddress,omitempty"`
	Namespace          string            `json:"namespace,omitempty"`
	StateDir           string            `json:"stateDir,omitempty"`
	TrustDir           string            `json:"trustDir,omitempty"`
	StatusRepo         string            `json:"statusRepo,omitempty"`
	PollURL            string            `json:"pollURL,omitempty"`
	PollMaxStale       spec.Duration     `json:"pollMaxStale,omitempty"`
	Interval           spec.Duration     `json:"interval,omitempty"`
	Heartbeat          spec.Duration     `json:"heartbeat,omitempty"`
	InsecureSkipVerify bool              `json:"insecureSkipVerify,omitempty"`
	VerifyMode         string            `json:"verifyMode,omitempty"`
	AllowRevisions     []string          `json:"allowRevisions,omitempty"`
	Auth               AuthConfig        `json:"auth,omitempty"`
	CDIDevicePrefix    string            `json:"cdiDevicePrefix,omitempty"`
	NetworkSubnet      string            `json:"networkSubnet,omitempty"`
	CDISpecDirs        []string          `json:"cdiSpecDirs,omitempty"`
	DiskReserve        string            `json:"diskReserve,omitempty"`
	LogMaxSize         string            `json:"logMaxSize,omitempty"`
	LogMaxFiles        int               `json:"logMaxFiles,omitempty"`
	LogTailSize        string            `json:"logTailSize,omitempty"`
	LogLevel           string            `json:"logLevel,omitempty"`
	AgeIdentity        string            `json:"ageIdentity,omitempty"`
	SecretsDir         string            `json:"secretsDir,omitempty"`
	USBRoots           []string          `json:"usbRoots,omitempty"`
	RegistryConfig     string            `json:"registryConfig,omitempty"`
	// Listen is the local API's address; "" turns it off, nil is the
	// default.
	Listen           *string `json:"listen,omitempty"`
	RegistryCertsDir string  `json:"registryCertsDir,omitempty"`
}

// AuthConfig holds git credentials. Secrets are read from files, never
// passed on the command line where other users could see them.
type AuthConfig struct {
	Username       string `json:"username,omitempty"`
	PasswordFile   string `json:"passwordFile,omitempty"`
	SSHKeyFile     string `json:"sshKeyFile,omitempty"`
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
}

// Defaults.
const (
	defaultBranch     = "main"
	defaultContainerd = "/run/containerd/containerd.sock"
	defaultNamespace  = "gitfleet"
	defaultStateDir   = "/var/lib/gitfleet"
	defaultTrustDir   = "/etc/gitfleet/trust"
	defaultHeartbeat  = time.Hour
	// defaultRegistryConfig may be missing: then pulls are anonymous.
	defaultRegistryConfig   = "/etc/gitfleet/registries.json"
	defaultRegistryCertsDir = "/etc/gitfleet/certs.d"
)

// options are flags that are not settings.
type options struct {
	configFile string
	once       bool
	// printAgeRecipient prints the node's age recipient and exits.
	printAgeRecipient bool
	// printStatusKey prints the node's status key (public) and exits.
	printStatusKey bool
}

// complete fills defaults and checks the result.
func (c *Config) complete(needRepo bool) error {
	def := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	def(&c.Branch, defaultBranch)
	def(&c.ContainerdAddress, defaultContainerd)
	def(&c.Namespace, defaultNamespace)
	def(&c.StateDir, defaultStateDir)
	def(&c.TrustDir, defaultTrustDir)
	def(&c.LogLevel, "info")
	def(&c.VerifyMode, "head")
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--node not set and no host name: %w", err)
		}
		c.Node = strings.ToLower(strings.SplitN(h, ".", 2)[0])
	}
	if c.Heartbeat.Duration == 0 {
		c.Heartbeat.Duration = defaultHeartbeat
	}
	var errs []error
	if c.Repo == "" && needRepo && len(c.USBRoots) == 0 {
		errs = append(errs, errors.New("--repo is required"))
	}
	for field, q := range map[string]string{"logMaxSize": c.LogMaxSize, "logTailSize": c.LogTailSize} {
		if q == "" {
			continue
		}
		if n, err := spec.ParseMemory(q); err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a size such as 10Mi", field, q))
		}
	}
	if c.LogMaxFiles < 0 {
		errs = append(errs, fmt.Errorf("logMaxFiles %d: want 1 or more", c.LogMaxFiles))
	}
	if c.DiskReserve != "" {
		if _, err := spec.ParseMemory(c.DiskReserve); err != nil {
			errs = append(errs, fmt.Errorf("disk reserve: %w", err))
		}
	}
	if c.PollURL != "" {
		if err := spec.CheckHeadURL(c.PollURL); err != nil {
			errs = append(errs, fmt.Errorf("--poll-url: %w", err))
		}
	}
	if c.Interval.Duration < 0 || c.Heartbeat.Duration < 0 || c.PollMaxStale.Duration < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if !filepath.IsAbs(c.StateDir) {
		abs, err := filepath.Abs(c.StateDir)
		errs = append(errs, err)
		c.StateDir = abs
	}
	def(&c.AgeIdentity, filepath.Join(c.StateDir, "age.key"))
	def(&c.SecretsDir, runtime.DefaultSecretDir)
	def(&c.RegistryCertsDir, defaultRegistryCertsDir)
	if c.Listen == nil {
		addr := agentapi.DefaultAddr
		c.Listen = &addr
	}
	return errors.Join(errs...)
}

// parseLabels reads "k=v,k2=v2".
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels: %q is not k=v", kv)
		}
		out[k] = v
	}
	return out, nil
}
