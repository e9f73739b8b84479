package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

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
	CDISpecDirs        []string          `json:"cdiSpecDirs,omitempty"`
	DiskReserve        string            `json:"diskReserve,omitempty"`
	LogLevel           string            `json:"logLevel,omitempty"`
	AgeIdentity        string            `json:"ageIdentity,omitempty"`
	SecretsDir         string            `json:"secretsDir,omitempty"`
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
)

// loadConfig reads the config file named by --config (if any), then applies
// the flags the user set explicitly, then the defaults.
func loadConfig(fs *flag.FlagSet, args []string) (*Config, *options, error) {
	var opt options
	var flagCfg Config
	var labels, interval, heartbeat, pollMaxStale string
	fs.StringVar(&opt.configFile, "config", "", "read settings from this YAML `file`; flags override it")
	fs.StringVar(&flagCfg.Repo, "repo", "", "fleet repo `URL` (file://, git://, http(s)://, ssh://)")
	fs.StringVar(&flagCfg.Branch, "branch", "", "branch to track (default \"main\")")
	fs.StringVar(&flagCfg.Node, "node", "", "this node's `name` (default: the host name)")
	fs.StringVar(&labels, "labels", "", "local labels `k=v,...`; they win over the repo's labels for this node")
	fs.StringVar(&flagCfg.ContainerdAddress, "containerd-address", "", "containerd socket `path` (default "+defaultContainerd+")")
	fs.StringVar(&flagCfg.Namespace, "namespace", "", "containerd namespace (default \"gitfleet\")")
	fs.StringVar(&flagCfg.StateDir, "state-dir", "", "`dir` for the repo cache, logs and state (default "+defaultStateDir+")")
	fs.StringVar(&flagCfg.TrustDir, "trust-dir", "", "`dir` with the node's trusted keys (default "+defaultTrustDir+")")
	fs.StringVar(&flagCfg.StatusRepo, "status-repo", "", "push status reports to this repo `URL` instead of the fleet repo")
	fs.StringVar(&flagCfg.PollURL, "poll-url", "", "static head `URL` to poll before asking git (wins over fleet.yaml spec.poll.url; docs/scale.md)")
	fs.StringVar(&pollMaxStale, "poll-max-stale", "", "confirm a head read from the head URL with a git poll at least this often (default: fleet.yaml spec.poll.maxStale, else 10 × the poll interval)")
	fs.StringVar(&interval, "interval", "", "poll `interval` (default: the fleet's pollInterval, 30s)")
	fs.StringVar(&heartbeat, "heartbeat", "", "commit a status report at least this often (default 1h)")
	fs.StringVar(&flagCfg.VerifyMode, "verify-mode", "", "verify the signature of the new head only (\"head\", default) or of every new commit (\"all\"); fleet.yaml may ask for \"all\" too")
	fs.Func("allow-revision", "apply this full commit `hash` although it does not descend from the last applied revision (a deliberate rollback; its signature is still checked); repeatable", func(s string) error {
		flagCfg.AllowRevisions = append(flagCfg.AllowRevisions, s)
		return nil
	})
	fs.BoolVar(&flagCfg.InsecureSkipVerify, "insecure-skip-verify", false, "apply revisions without verifying signatures (labs and tests only; every status report says so)")
	fs.StringVar(&flagCfg.Auth.Username, "git-username", "", "user `name` for HTTP(S) git servers")
	fs.StringVar(&flagCfg.Auth.PasswordFile, "git-password-file", "", "`file` holding the HTTP(S) password or token")
	fs.StringVar(&flagCfg.Auth.SSHKeyFile, "ssh-key", "", "private key `file` for ssh:// repos")
	fs.StringVar(&flagCfg.Auth.KnownHostsFile, "known-hosts", "", "known_hosts `file` for ssh:// repos")
	fs.StringVar(&flagCfg.LogLevel, "log-level", "", "debug, info, warn or error (default info)")
	fs.StringVar(&flagCfg.CDIDevicePrefix, "cdi-device-prefix", "", "CDI kind whose devices <kind>=0..N-1 give a workload resources.gpus: N (default \"nvidia.com/gpu\")")
	fs.Func("cdi-spec-dir", "`dir` of CDI spec files (default /etc/cdi and /var/run/cdi); repeatable", func(s string) error {
		flagCfg.CDISpecDirs = append(flagCfg.CDISpecDirs, s)
		return nil
	})
	fs.StringVar(&flagCfg.DiskReserve, "disk-reserve", "", "disk `space` a pull must leave free where containerd keeps images, e.g. 512Mi (default 256Mi)")
	fs.BoolVar(&opt.once, "once", false, "run one pass and exit; the exit status says whether it succeeded")
	fs.BoolVar(&opt.version, "version", false, "print the version and exit")
	fs.StringVar(&flagCfg.AgeIdentity, "age-identity", "", "this node's age identity `file`, made on first start (default <state-dir>/age.key)")
	fs.StringVar(&flagCfg.SecretsDir, "secrets-dir", "", "tmpfs `dir` for decrypted secret files (default "+runtime.DefaultSecretDir+")")
	fs.BoolVar(&opt.printAgeRecipient, "print-age-recipient", false, "print this node's age recipient for nodes/<node>.yaml spec.ageRecipient (making its identity on first use) and exit")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if opt.version {
		return nil, &opt, nil
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	cfg := &Config{}
	if opt.configFile != "" {
		b, err := os.ReadFile(opt.configFile)
		if err != nil {
			return nil, nil, err
		}
		if err := yaml.UnmarshalStrict(b, cfg); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", opt.configFile, err)
		}
	}
	var errs []error
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	override := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	override("repo", &cfg.Repo, flagCfg.Repo)
	override("branch", &cfg.Branch, flagCfg.Branch)
	override("node", &cfg.Node, flagCfg.Node)
	override("containerd-address", &cfg.ContainerdAddress, flagCfg.ContainerdAddress)
	override("namespace", &cfg.Namespace, flagCfg.Namespace)
	override("state-dir", &cfg.StateDir, flagCfg.StateDir)
	override("trust-dir", &cfg.TrustDir, flagCfg.TrustDir)
	override("status-repo", &cfg.StatusRepo, flagCfg.StatusRepo)
	override("poll-url", &cfg.PollURL, flagCfg.PollURL)
	override("git-username", &cfg.Auth.Username, flagCfg.Auth.Username)
	override("git-password-file", &cfg.Auth.PasswordFile, flagCfg.Auth.PasswordFile)
	override("ssh-key", &cfg.Auth.SSHKeyFile, flagCfg.Auth.SSHKeyFile)
	override("known-hosts", &cfg.Auth.KnownHostsFile, flagCfg.Auth.KnownHostsFile)
	override("log-level", &cfg.LogLevel, flagCfg.LogLevel)
	override("cdi-device-prefix", &cfg.CDIDevicePrefix, flagCfg.CDIDevicePrefix)
	override("disk-reserve", &cfg.DiskReserve, flagCfg.DiskReserve)
	override("age-identity", &cfg.AgeIdentity, flagCfg.AgeIdentity)
	override("secrets-dir", &cfg.SecretsDir, flagCfg.SecretsDir)
	if set["cdi-spec-dir"] {
		cfg.CDISpecDirs = flagCfg.CDISpecDirs
	}
	if set["insecure-skip-verify"] {
		cfg.InsecureSkipVerify = flagCfg.InsecureSkipVerify
	}
	override("verify-mode", &cfg.VerifyMode, flagCfg.VerifyMode)
	if set["allow-revision"] {
		cfg.AllowRevisions = flagCfg.AllowRevisions
	}
	if set["labels"] {
		l, err := parseLabels(labels)
		errs = append(errs, err)
		cfg.Labels = l
	}
	for name, pair := range map[string]struct {
		s   string
		dst *spec.Duration
	}{"interval": {interval, &cfg.Interval}, "heartbeat": {heartbeat, &cfg.Heartbeat}, "poll-max-stale": {pollMaxStale, &cfg.PollMaxStale}} {
		if set[name] {
			d, err := time.ParseDuration(pair.s)
			if err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", name, err))
			}
			pair.dst.Duration = d
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return cfg, &opt, cfg.complete(!opt.printAgeRecipient)
}

// options are flags that are not settings.
type options struct {
	configFile string
	once       bool
	version    bool
	// printAgeRecipient prints the node's age recipient and exits.
	printAgeRecipient bool
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
	if c.Repo == "" && needRepo {
		errs = append(errs, errors.New("--repo is required"))
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
