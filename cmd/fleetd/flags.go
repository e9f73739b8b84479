package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/gitfleet/gitfleet/agentapi"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/spec"
)

// flagValues are the flags as typed, before they are merged with the config
// file: a flag the user did not set leaves the file's value alone.
type flagValues struct {
	opt                                       options
	cfg                                       Config
	labels, interval, heartbeat, pollMaxStale string
	listen                                    string
}

// addFlags defines fleetd's flags on fs. The defaults named in the help are
// filled in by Config.complete, so that a config file can set them too.
func addFlags(fs *pflag.FlagSet) *flagValues {
	fv := &flagValues{}
	c := &fv.cfg
	fs.SortFlags = false
	fs.StringVar(&fv.opt.configFile, "config", "", "read settings from this YAML `file` (fields as in docs/agent.md); flags override it")
	fs.StringVar(&c.Repo, "repo", "", "fleet repo `URL` (file://, git://, http(s)://, ssh://); required")
	fs.StringVar(&c.Branch, "branch", "", "`branch` to track (default \"main\")")
	fs.StringVar(&c.Node, "node", "", "this node's `name` (default: the host name up to the first dot, lower case)")
	fs.StringVar(&fv.labels, "labels", "", "local labels `k=v,...`; they win over the repo's labels for this node")
	fs.StringVar(&c.ContainerdAddress, "containerd-address", "", "containerd socket `path` (default "+defaultContainerd+")")
	fs.StringVar(&c.Namespace, "namespace", "", "containerd `namespace` (default \"gitfleet\")")
	fs.StringVar(&c.StateDir, "state-dir", "", "`dir` for the repo cache, logs and state (default "+defaultStateDir+")")
	fs.StringVar(&c.TrustDir, "trust-dir", "", "`dir` with the node's trusted keys (default "+defaultTrustDir+")")
	fs.StringVar(&c.StatusRepo, "status-repo", "", "push status reports to this repo `URL` instead of the fleet repo")
	fs.StringVar(&c.PollURL, "poll-url", "", "static head `URL` to poll before asking git (wins over fleet.yaml spec.poll.url; docs/scale.md)")
	fs.StringVar(&fv.pollMaxStale, "poll-max-stale", "", "confirm a head read from the head URL with a git poll at least this `often` (default: fleet.yaml spec.poll.maxStale, else 10 × the poll interval)")
	fs.StringVar(&fv.interval, "interval", "", "poll `interval` such as 30s (default: fleet.yaml spec.pollInterval, else 30s)")
	fs.StringVar(&fv.heartbeat, "heartbeat", "", "commit a status report at least this `often` although nothing changed (default 1h)")
	fs.StringVar(&c.VerifyMode, "verify-mode", "", "verify the signature of the new head only (\"head\", default) or of every new commit (\"all\"); fleet.yaml may ask for \"all\" too")
	fs.Func("allow-revision", "apply this full commit `hash` although it does not descend from the last applied revision (a deliberate rollback; its signature is still checked); repeatable", func(s string) error {
		c.AllowRevisions = append(c.AllowRevisions, s)
		return nil
	})
	fs.BoolVar(&c.InsecureSkipVerify, "insecure-skip-verify", false, "apply revisions without verifying signatures (labs and tests only; every status report says so)")
	fs.StringVar(&c.Auth.Username, "git-username", "", "user `name` for HTTP(S) git servers")
	fs.StringVar(&c.Auth.PasswordFile, "git-password-file", "", "`file` holding the HTTP(S) password or token")
	fs.StringVar(&c.Auth.SSHKeyFile, "ssh-key", "", "private key `file` for ssh:// repos")
	fs.StringVar(&c.Auth.KnownHostsFile, "known-hosts", "", "known_hosts `file` for ssh:// repos")
	fs.StringVar(&c.LogLevel, "log-level", "", "`level`: debug, info, warn or error (default info)")
	fs.StringVar(&c.NetworkSubnet, "network-subnet", "", "IPv4 `subnet` of isolated workloads' bridge (default \"10.213.0.0/24\")")
	fs.StringVar(&c.CDIDevicePrefix, "cdi-device-prefix", "", "CDI `kind` whose devices <kind>=0..N-1 give a workload resources.gpus: N (default \"nvidia.com/gpu\")")
	fs.Func("usb-root", "watch `dir` (e.g. /media, /run/media) for USB sticks holding gitfleet/ and apply them offline; repeatable (see docs/offline.md)", func(s string) error {
		c.USBRoots = append(c.USBRoots, s)
		return nil
	})
	fs.Func("cdi-spec-dir", "`dir` of CDI spec files (default /etc/cdi and /var/run/cdi); repeatable", func(s string) error {
		c.CDISpecDirs = append(c.CDISpecDirs, s)
		return nil
	})
	fs.StringVar(&c.DiskReserve, "disk-reserve", "", "disk `space` a pull must leave free where containerd keeps images, e.g. 512Mi (default 256Mi)")
	fs.StringVar(&c.LogMaxSize, "log-max-size", "", "`size` past which a workload's log file is rotated, e.g. 50Mi (default 10Mi)")
	fs.IntVar(&c.LogMaxFiles, "log-max-files", 0, "rotated `files` kept per workload log (default 3)")
	fs.StringVar(&c.LogTailSize, "log-tail-size", "", "`size` of the end of a failing workload's log put in its status report, e.g. 8Ki (default 4Ki)")
	fs.StringVar(&c.AgeIdentity, "age-identity", "", "this node's age identity `file`, made on first start (default <state-dir>/age.key)")
	fs.StringVar(&c.SecretsDir, "secrets-dir", "", "tmpfs `dir` for decrypted secret files (default "+runtime.DefaultSecretDir+")")
	fs.StringVar(&c.RegistryConfig, "registry-config", "", "registry logins in the Docker config.json format (\"auths\"); never logged (default "+defaultRegistryConfig+", anonymous when missing)")
	fs.StringVar(&c.RegistryCertsDir, "registry-certs-dir", "", "`dir` with <host>/client.cert, client.key and ca.crt per registry, as Docker's certs.d (default "+defaultRegistryCertsDir+")")
	fs.StringVar(&fv.listen, "listen", agentapi.DefaultAddr, "`address` of the local API (/metrics, /healthz, /readyz, /status, POST /sync): host:port, or unix:PATH or an absolute path for a unix socket; \"\" turns it off")
	fs.BoolVar(&fv.opt.once, "once", false, "run one pass and exit; the exit status says whether it succeeded")
	fs.BoolVar(&fv.opt.printAgeRecipient, "print-age-recipient", false, "print this node's age recipient for nodes/<node>.yaml spec.ageRecipient (making its identity on first use) and exit")
	fs.BoolVar(&fv.opt.printStatusKey, "print-status-key", false, "print this node's status key for nodes/<node>.yaml spec.statusKey (making it on first use, in <state-dir>/status.key) and exit")
	return fv
}

// loadConfig defines the flags on fs, parses args and resolves them
// against the config file.
func loadConfig(fs *pflag.FlagSet, args []string) (*Config, *options, error) {
	fv := addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return fv.resolve(fs)
}

// resolve reads the config file named by --config (if any), then applies
// the flags the user set explicitly, then the defaults.
func (fv *flagValues) resolve(fs *pflag.FlagSet) (*Config, *options, error) {
	opt, flagCfg := &fv.opt, &fv.cfg
	cfg := &Config{}
	if opt.configFile != "" {
		b, err := os.ReadFile(opt.configFile)
		if err != nil {
			return nil, nil, err
		}
		if cfg, err = parseConfigFile(opt.configFile, b); err != nil {
			return nil, nil, err
		}
	}
	var errs []error
	override := func(name string, dst *string, v string) {
		if fs.Changed(name) {
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
	override("network-subnet", &cfg.NetworkSubnet, flagCfg.NetworkSubnet)
	override("disk-reserve", &cfg.DiskReserve, flagCfg.DiskReserve)
	override("log-max-size", &cfg.LogMaxSize, flagCfg.LogMaxSize)
	override("log-tail-size", &cfg.LogTailSize, flagCfg.LogTailSize)
	if fs.Changed("log-max-files") {
		cfg.LogMaxFiles = flagCfg.LogMaxFiles
	}
	override("age-identity", &cfg.AgeIdentity, flagCfg.AgeIdentity)
	override("secrets-dir", &cfg.SecretsDir, flagCfg.SecretsDir)
	override("registry-config", &cfg.RegistryConfig, flagCfg.RegistryConfig)
	override("registry-certs-dir", &cfg.RegistryCertsDir, flagCfg.RegistryCertsDir)
	override("verify-mode", &cfg.VerifyMode, flagCfg.VerifyMode)
	if fs.Changed("usb-root") {
		cfg.USBRoots = flagCfg.USBRoots
	}
	if fs.Changed("listen") {
		cfg.Listen = &fv.listen
	}
	if fs.Changed("cdi-spec-dir") {
		cfg.CDISpecDirs = flagCfg.CDISpecDirs
	}
	if fs.Changed("insecure-skip-verify") {
		cfg.InsecureSkipVerify = flagCfg.InsecureSkipVerify
	}
	if fs.Changed("allow-revision") {
		cfg.AllowRevisions = flagCfg.AllowRevisions
	}
	if fs.Changed("labels") {
		l, err := parseLabels(fv.labels)
		errs = append(errs, err)
		cfg.Labels = l
	}
	for name, pair := range map[string]struct {
		s   string
		dst *spec.Duration
	}{"interval": {fv.interval, &cfg.Interval}, "heartbeat": {fv.heartbeat, &cfg.Heartbeat}, "poll-max-stale": {fv.pollMaxStale, &cfg.PollMaxStale}} {
		if fs.Changed(name) {
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
	return cfg, opt, cfg.complete(!opt.printAgeRecipient && !opt.printStatusKey)
}

// parseConfigFile decodes a config file strictly; its errors name the file,
// line and field.
func parseConfigFile(name string, data []byte) (*Config, error) {
	cfg := &Config{}
	if err := spec.DecodeYAML(name, data, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}
