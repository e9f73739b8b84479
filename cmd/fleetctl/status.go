package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/fleetstatus"
	"github.com/gitfleet/gitfleet/source"

	"github.com/gitfleet/gitfleet/durable"
)

// statusGCPercent is the garbage collector's target while status runs
// (GOGC, unless the environment sets one).
const statusGCPercent = 200

type statusOptions struct {
	repo, statusRepo, branch string
	output                   string
	html                     string
	groupBy                  string
	heartbeat                time.Duration
	staleAfter               time.Duration
	offlineAfter             time.Duration
	historyDepth             int
	username, passwordFile   string
	sshKey, knownHosts       string
	failOnUnhealthy          bool
	commitURL                string
	timeout                  time.Duration
	now                      string // hidden: RFC 3339, for tests and reproducible pages
}

func newStatusCmd() *cobra.Command {
	var o statusOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "status --repo URL",
		Short: "Show the fleet read back from Git: every node's state, revision, workloads and errors",
		Long: `status reads the whole fleet from Git, never from a node: every status ref
refs/heads/status/<node> (one fetch, depth 1, from --repo or --status-repo)
and the tracked branch (its last --history-depth commits, fleet.yaml,
nodes/ and groups/ at the head). For every node of nodes/ and every node
with a status ref it shows the revision applied against the branch head
(and how many commits behind), its workloads healthy and failing, its
errors, when it last reported, and one state (the full rules are in
docs/status.md):

  failing     the report says a revision was refused or failed, a workload
              is not running or unhealthy, or the report does not parse
  offline     never reported, or no report for --offline-after (default 24h)
  stale       no report for --stale-after (default 2 heartbeats)
  updating    the branch head is not applied yet, or workloads are starting
  up-to-date  the head is applied and every workload runs

The heartbeat is fleet.yaml's spec.status.heartbeat (default 1h) unless
--heartbeat is given. --output writes a text table (rows worst first:
failing, offline, stale, updating, up-to-date; then by the --group-by
label and name; errors after the table), JSON (schema in docs/status.md)
or Markdown for an issue or PR comment. Every output shows the model
version (tag and short digest) of each workload on each node, which
versions run where, and, for groups with spec.rollout, the head's rollout
wave by wave. --html FILE also writes one static HTML page (no external
assets): a tile per state, the models, the rollouts, a table per site (or
group), every row coloured by state. Commits link to their pages when the
repo is on GitHub, GitLab, Gitea or Forgejo (or as --commit-url says).

The repositories are URLs (file://, git://, http(s)://, ssh:// or
user@host:path) or a local directory, read as a remote: a clone holds the
status refs as refs/remotes/origin/status/*, which are not read, so give
the server's URL or a mirror. Credentials: --git-username and
--git-password-file (or user:token@ in an http(s) URL) for HTTP(S),
--ssh-key and --known-hosts for ssh; they are used for both repositories
(put credentials in the URLs when they differ) and never printed.

Exit status: 0 when the fleet was read, whatever the nodes' states; with
--fail-on-unhealthy, 1 when any node is failing, untrusted, stale or offline (the
output is written first). 1 also when the status repository holds no
status ref at all (the output is written, stderr says where status refs
live: a clone's directory is the usual mistake), or the fleet cannot be
read; 2 on bad usage; 3 when a git server cannot be reached.`,
		Example: `  # The fleet at a glance
  fleetctl status --repo https://git.example.com/plant/fleet.git

  # Status reports in a repository of their own, with a token from a file
  fleetctl status --repo https://git.example.com/plant/fleet.git \
      --status-repo https://git.example.com/plant/fleet-status.git \
      --git-username ci --git-password-file /run/secrets/git-token

  # Over ssh, with the server's host key pinned
  fleetctl status --repo ssh://git@git.example.com/plant/fleet.git \
      --ssh-key ~/.ssh/fleet_ed25519 --known-hosts ~/.ssh/known_hosts

  # A static page for a dashboard or a CI artifact, the Markdown table on stdout
  fleetctl status --repo https://git.example.com/plant/fleet.git --html fleet.html -o markdown

  # JSON for scripts: the nodes that are not up to date
  fleetctl status --repo https://git.example.com/plant/fleet.git -o json |
      jq -r '.nodes[] | select(.state != "up-to-date") | .name'

  # Alerting / CI gate: exit 1 when any node is failing, untrusted, stale or offline
  fleetctl status --repo https://git.example.com/plant/fleet.git --fail-on-unhealthy --heartbeat 15m

  # Group by another node label than "site"
  fleetctl status --repo https://git.example.com/plant/fleet.git --group-by line`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.output = out.value
			return runStatus(cmd.Context(), cmd.OutOrStdout(), o)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "the fleet repo: a `URL` or a local directory (required)")
	f.StringVar(&o.statusRepo, "status-repo", "", "`URL` of the repository holding the status refs, when not --repo (fleetd's --status-repo)")
	f.StringVar(&o.branch, "branch", fleetstatus.DefaultBranch, "the tracked branch")
	f.StringVar(&o.html, "html", "", "also write the fleet as one static HTML page to `FILE`")
	f.StringVar(&o.groupBy, "group-by", fleetstatus.DefaultGroupBy, "node `LABEL` that sorts the tables and groups the HTML page")
	f.DurationVar(&o.heartbeat, "heartbeat", 0, "how often fleetd reports (default: fleet.yaml's spec.status.heartbeat, else 1h)")
	f.DurationVar(&o.staleAfter, "stale-after", 0, "a node whose last report is older is stale (default 2×heartbeat)")
	f.DurationVar(&o.offlineAfter, "offline-after", 0, "a node whose last report is older is offline (default 24h, never below --stale-after)")
	f.IntVar(&o.historyDepth, "history-depth", fleetstatus.DefaultHistoryDepth, "commits of the branch fetched to count how far behind nodes are")
	f.StringVar(&o.username, "git-username", "", "user `name` for HTTP(S) git servers")
	f.StringVar(&o.passwordFile, "git-password-file", "", "`file` holding the HTTP(S) password or token")
	f.StringVar(&o.sshKey, "ssh-key", "", "unencrypted private key `file` for ssh:// repos (default: the ssh agent)")
	f.StringVar(&o.knownHosts, "known-hosts", "", "known_hosts `file` for ssh:// repos (with --ssh-key)")
	f.BoolVar(&o.failOnUnhealthy, "fail-on-unhealthy", false, "exit 1 when any node is failing, untrusted, stale or offline")
	f.StringVar(&o.commitURL, "commit-url", "", "web page of a commit, with {commit} for its hash, for links (default: known from GitHub, GitLab, Gitea and Forgejo URLs)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up reading the repositories after this long")
	f.StringVar(&o.now, "now", "", "the time ages count from, RFC 3339 (tests)")
	_ = f.MarkHidden("now")
	_ = cmd.MarkFlagRequired("repo")
	out = addOutputFlag(cmd, outText, outJSON, outMarkdown)
	noFiles := cobra.FixedCompletions(nil, cobra.ShellCompDirectiveNoFileComp)
	for _, name := range []string{"repo", "status-repo", "branch", "group-by", "heartbeat", "stale-after", "offline-after", "history-depth", "git-username", "timeout"} {
		_ = cmd.RegisterFlagCompletionFunc(name, noFiles)
	}
	_ = f.SetAnnotation("html", cobra.BashCompFilenameExt, []string{"html", "htm"})
	return cmd
}

func runStatus(ctx context.Context, w io.Writer, o statusOptions) error {
	opts, err := o.collectOptions()
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// One pass over the whole fleet, then exit: with 10,000 status
		// refs collecting half as often cuts the command's CPU by about
		// a fifth for about 50 MiB more at its peak (bench/RESULTS.md).
		defer debug.SetGCPercent(debug.SetGCPercent(statusGCPercent))
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	fleet, err := fleetstatus.Collect(ctx, opts)
	if err != nil {
		return err
	}

	if o.html != "" {
		var page bytes.Buffer
		if err := fleet.WriteHTML(&page); err != nil {
			return fmt.Errorf("html page: %w", err)
		}
		if err := writeFileAtomic(o.html, page.Bytes()); err != nil {
			return err
		}
	}
	switch o.output {
	case outJSON:
		err = fleet.WriteJSON(w)
	case outMarkdown:
		err = fleet.WriteMarkdown(w)
	default:
		err = fleet.WriteText(w)
	}
	if err != nil {
		return err
	}

	for _, warn := range fleet.Warnings {
		if strings.HasPrefix(warn, fleetstatus.NoStatusRefs) {
			// Almost always the wrong place to look: say so, and exit 1.
			return findings("%s", warn)
		}
	}
	if o.failOnUnhealthy {
		var parts []string
		bad := 0
		for _, s := range []fleetstatus.State{fleetstatus.Failing, fleetstatus.Untrusted, fleetstatus.Stale, fleetstatus.Offline} {
			if n := fleet.Counts[s]; n > 0 {
				bad += n
				parts = append(parts, fmt.Sprintf("%d %s", n, s))
			}
		}
		if bad > 0 {
			noun := "nodes"
			if bad == 1 {
				noun = "node"
			}
			return findings("%d of %d %s unhealthy: %s", bad, len(fleet.Nodes), noun, strings.Join(parts, ", "))
		}
	}
	return nil
}

// collectOptions checks the flags and turns them into fleetstatus.Options.
func (o statusOptions) collectOptions() (fleetstatus.Options, error) {
	if o.heartbeat < 0 || o.staleAfter < 0 || o.offlineAfter < 0 {
		return fleetstatus.Options{}, usageError("--heartbeat, --stale-after and --offline-after must not be negative")
	}
	if o.historyDepth < 1 {
		return fleetstatus.Options{}, usageError("--history-depth %d: want 1 or more", o.historyDepth)
	}
	if o.timeout <= 0 {
		return fleetstatus.Options{}, usageError("--timeout %s: want a positive duration", o.timeout)
	}
	if o.knownHosts != "" && o.sshKey == "" {
		return fleetstatus.Options{}, usageError("--known-hosts needs --ssh-key")
	}
	if o.commitURL != "" && !strings.Contains(o.commitURL, fleetstatus.CommitPlaceholder) {
		return fleetstatus.Options{}, usageError("--commit-url %q: want a URL with %s", o.commitURL, fleetstatus.CommitPlaceholder)
	}
	if strings.TrimSpace(o.groupBy) == "" {
		return fleetstatus.Options{}, usageError("--group-by: want a label name")
	}
	auth := source.Auth{Username: o.username, SSHKeyFile: o.sshKey, KnownHostsFile: o.knownHosts}
	if o.passwordFile != "" {
		b, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return fleetstatus.Options{}, fmt.Errorf("--git-password-file: %w", err)
		}
		auth.Password = strings.TrimSpace(string(b))
		if auth.Password == "" {
			return fleetstatus.Options{}, fmt.Errorf("--git-password-file %s is empty", o.passwordFile)
		}
	}
	repo, err := source.ParseLocation(o.repo, auth)
	if err != nil {
		return fleetstatus.Options{}, fmt.Errorf("--repo: %w", err)
	}
	opts := fleetstatus.Options{
		Repo:         repo,
		Branch:       o.branch,
		Heartbeat:    o.heartbeat,
		StaleAfter:   o.staleAfter,
		OfflineAfter: o.offlineAfter,
		HistoryDepth: o.historyDepth,
		GroupBy:      o.groupBy,
		CommitURL:    o.commitURL,
	}
	if o.statusRepo != "" {
		if opts.StatusRepo, err = source.ParseLocation(o.statusRepo, auth); err != nil {
			return fleetstatus.Options{}, fmt.Errorf("--status-repo: %w", err)
		}
	}
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return fleetstatus.Options{}, usageError("--now %q: want an RFC 3339 time such as 2026-11-22T12:00:00Z", o.now)
		}
		opts.Now = func() time.Time { return t }
	}
	return opts, nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path, so a page served from path is never seen half written.
func writeFileAtomic(path string, data []byte) error {
	return durable.WriteFile(path, data, 0o644)
}
