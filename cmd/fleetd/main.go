// Command fleetd is the gitfleet agent. On each edge node it polls the fleet
// repo, resolves the node's workloads, pulls their images and runs them
// through containerd, and commits a status report back to Git.
//
// Usage:
//
//	fleetd --repo URL [--node NAME] [--labels k=v,...] [flags]
//	fleetd --config /etc/gitfleet/fleetd.yaml
//
// SIGTERM or SIGINT stops the agent; the workloads keep running and a
// restarted agent adopts them without restarting them.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/agentapi"
	"github.com/gitfleet/gitfleet/health"
	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/internal/version"
	"github.com/gitfleet/gitfleet/reconciler"
	"github.com/gitfleet/gitfleet/runtime"
	"github.com/gitfleet/gitfleet/secret"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/trust"
)

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // a failed pass (--once) or a fatal error
	exitUsage = 2 // bad flags or config file
)

// run is main with its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	code := exitOK
	var fv *flagValues
	root := &cobra.Command{
		Use:   "fleetd [flags]",
		Short: "Keep this node's model containers equal to the fleet repo",
		Long:  long,
		Example: `  fleetd --repo https://git.example.com/plant-1/fleet.git --node press-01
  fleetd --repo file:///srv/fleet.git --labels line=a --once --insecure-skip-verify
  fleetd --config /etc/gitfleet/fleetd.yaml
  fleetd --print-age-recipient   # this node's key for nodes/<node>.yaml spec.ageRecipient
  fleetd --print-status-key      # this node's key for nodes/<node>.yaml spec.statusKey`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Get().String("fleetd"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, opt, err := fv.resolve(cmd.Flags())
			if err != nil {
				return err
			}
			code = serve(cfg, opt, stdout, stderr)
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	fv = addFlags(root.Flags())
	root.Flags().SetInterspersed(true)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "fleetd: %v\n", err)
		fmt.Fprintln(stderr, "Run 'fleetd --help' for usage.")
		return exitUsage
	}
	return code
}

// serve runs the agent (or --print-age-recipient, --print-status-key) with
// a resolved config.
func serve(cfg *Config, opt *options, stdout, stderr io.Writer) int {
	if opt.printStatusKey {
		key, _, err := loadStatusKey(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "fleetd: %v\n", err)
			return exitFail
		}
		fmt.Fprintln(stdout, key.AuthorizedKey(statusKeyComment(cfg)))
		return exitOK
	}
	if opt.printAgeRecipient {
		id, _, err := secret.LoadOrCreateIdentity(cfg.AgeIdentity)
		if err != nil {
			fmt.Fprintf(stderr, "fleetd: %v\n", err)
			return exitFail
		}
		fmt.Fprintln(stdout, id.Recipient())
		return exitOK
	}
	log := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := agent(ctx, cfg, opt, log); err != nil {
		log.Error("fleetd failed", "err", err)
		return exitFail
	}
	return exitOK
}

const long = `fleetd keeps this node's model containers equal to the fleet repo.

Each poll asks the git server for the tracked branch only; when it moved,
fleetd fetches that one commit (depth 1, no work tree), verifies it, resolves
the workloads this node's labels select, pulls their images by digest, runs
them in containerd and commits status/<node>.yaml on refs/heads/status/<node>.
Anything refused leaves the last good workloads running; the status report
says why.

Settings come from --config (a YAML file) and the flags below; a flag wins
over the file. SIGTERM or SIGINT stops the agent and leaves the workloads
running.

Exit codes: 0 success, 1 a failed pass (--once) or a fatal error, 2 bad
flags or config file.`

// agent wires the adapters into a reconciler and runs it.
func agent(ctx context.Context, cfg *Config, opt *options, log *slog.Logger) error {
	auth, err := cfg.Auth.load()
	if err != nil {
		return err
	}
	statusKey, created, err := loadStatusKey(cfg)
	if err != nil {
		return err
	}
	if created {
		log.Info("made this node's status key: enrol it in nodes/<node>.yaml spec.statusKey (fleetd --print-status-key)",
			"file", statusKeyFile(cfg), "statusKey", statusKey.AuthorizedKey(statusKeyComment(cfg)))
	}
	var api atomic.Pointer[agentapi.API] // set once the local API is made
	traffic := func(op source.Op, sent, received int64) {
		if a := api.Load(); a != nil {
			a.ObserveGitBytes(string(op), sent, received)
		}
	}
	src, poller, rep, repoName, err := network(cfg, auth, statusKey, traffic, log)
	if err != nil {
		return err
	}
	var reserve int64
	if cfg.DiskReserve != "" {
		reserve, _ = spec.ParseMemory(cfg.DiskReserve) // checked by complete
	}
	ageID, created, err := secret.LoadOrCreateIdentity(cfg.AgeIdentity)
	if err != nil {
		return err
	}
	if created {
		log.Info("made this node's age identity: put its recipient in nodes/<node>.yaml spec.ageRecipient",
			"file", cfg.AgeIdentity, "ageRecipient", ageID.Recipient())
	}
	creds, err := registryCredentials(cfg)
	if err != nil {
		return err
	}
	rt, err := runtime.New(ctx, runtime.Config{
		OnPull: func(p runtime.PullStats) {
			if a := api.Load(); a != nil {
				a.ObservePull(p.Bytes, p.Duration, p.Err)
			}
		},
		RegistryLogin: func(host string) (runtime.RegistryLogin, bool) {
			l, ok := creds.Login(host)
			return runtime.RegistryLogin(l), ok
		},
		RegistryTLS: creds.TLSConfig,
		Address:     cfg.ContainerdAddress, Namespace: cfg.Namespace,
		LogDir:          filepath.Join(cfg.StateDir, "logs"),
		RunDir:          filepath.Join(cfg.StateDir, "run"),
		CDIDevicePrefix: cfg.CDIDevicePrefix, CDISpecDirs: cfg.CDISpecDirs,
		Subnet:       cfg.NetworkSubnet,
		ReserveBytes: reserve,
		Secrets:      ageID, SecretDir: cfg.SecretsDir,
		LogMaxBytes: size(cfg.LogMaxSize), LogMaxFiles: cfg.LogMaxFiles, LogTailBytes: int(size(cfg.LogTailSize)),
	}, log)
	if err != nil {
		return err
	}
	defer rt.Close()

	deps := reconciler.Deps{Source: poller, Runtime: rt, Reporter: rep, Reports: rep, Logs: rt, Log: log}
	go rotateLogs(ctx, rt, log)
	var imageKeys map[string][]byte
	var checker func(*source.Git) reconciler.CommitVerifier
	if cfg.InsecureSkipVerify {
		log.Warn("signature verification is OFF (--insecure-skip-verify): every status report says so")
	} else {
		if checker, imageKeys, err = verifiers(cfg, log); err != nil {
			return err
		}
		if checker != nil {
			deps.Commits = checker(src)
		}
		deps.Images = image.NewRevisionVerifier(imageKeys).WithCredentials(creds)
	}
	var wake chan struct{}
	if len(cfg.USBRoots) > 0 {
		if wake, err = withUSB(ctx, cfg, &deps, src, poller, rep, checker, imageKeys, statusKey, log); err != nil {
			return err
		}
	}
	syncNow, local := localAPI(ctx, cfg, opt.once, &deps, wake, log)
	api.Store(local)
	mon := health.NewMonitor(health.Config{Exec: rt, Log: log})
	go mon.Run(ctx)
	deps.Health = healthChecker{mon}
	deps.GC = rt
	if !opt.once {
		// A long-running agent leaves restarts to the supervisor (exit
		// events, backoff); one pass restarts stopped containers itself.
		sup, err := runtime.NewSupervisor(rt, runtime.SupervisorConfig{})
		if err != nil {
			return err
		}
		go sup.Run(ctx)
		deps.Supervisor = sup
	}
	rec, err := reconciler.New(reconciler.Config{
		Node: cfg.Node, Labels: cfg.Labels, Interval: cfg.Interval.Duration,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		StateFile:          filepath.Join(cfg.StateDir, "state.json"),
		Wake:               syncNow,
	}, deps)
	if err != nil {
		return err
	}
	log.Info("fleetd started", "node", cfg.Node, "repo", repoName, "branch", cfg.Branch, "usbRoots", cfg.USBRoots)
	if opt.once {
		return rec.Pass(ctx)
	}
	return rec.Run(ctx)
}

// load reads the secrets the config points at.
func (a AuthConfig) load() (source.Auth, error) {
	auth := source.Auth{Username: a.Username, SSHKeyFile: a.SSHKeyFile, KnownHostsFile: a.KnownHostsFile}
	if a.PasswordFile != "" {
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return auth, fmt.Errorf("git password: %w", err)
		}
		auth.Password = strings.TrimSpace(string(b))
	}
	return auth, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// The adapters satisfy the reconciler's interfaces.
var (
	_ reconciler.Source       = (*source.Git)(nil)
	_ reconciler.Source       = (*source.HeadURL)(nil)
	_ reconciler.HeadHinter   = (*source.HeadURL)(nil)
	_ reconciler.PollReporter = (*source.HeadURL)(nil)
	_ reconciler.PollReporter = (*source.Git)(nil)
	_ reconciler.Reporter     = (*source.StatusWriter)(nil)

	_ reconciler.ReportReader = (*source.StatusWriter)(nil)
	_ source.Signer           = (*trust.StatusKey)(nil)
	_ reconciler.Runtime      = (*runtime.Containerd)(nil)

	_ reconciler.CommitVerifier = (*trust.Checker)(nil)
	_ reconciler.ImageVerifier  = (*image.RevisionVerifier)(nil)
	_ reconciler.ImageVerifier  = (*image.LayoutVerifier)(nil)
	_ reconciler.Source         = (*channel)(nil)
	_ reconciler.HeadHinter     = (*channel)(nil)
	_ reconciler.PollReporter   = (*channel)(nil)
	_ reconciler.Reporter       = (*channel)(nil)
	_ reconciler.ReportReader   = (*channel)(nil)
	_ reconciler.ImageVerifier  = channelImages{}
	_ reconciler.CommitVerifier = channelCommits{}
	_ reconciler.Supervisor     = (*runtime.Supervisor)(nil)
	_ reconciler.ImageCollector = (*runtime.Containerd)(nil)
)
