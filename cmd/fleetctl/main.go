// Command fleetctl is the operator's tool for a gitfleet fleet repo: it
// validates a revision, plans a pull request fleet-wide, shows the fleet's
// state from the nodes' status reports, pins image tags to
// digests, prints the JSON Schema of the format, and signs and verifies
// images and commits. See docs/fleetctl.md.
//
// Exit codes: 0 success, 1 findings or a refusal (validation errors, a
// head that does not parse, an image or commit refused), 2 bad usage, 3
// something could not be reached (a registry, a git server, fleetd's local
// API), so nothing was decided.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK          = 0
	exitFindings    = 1
	exitUsage       = 2
	exitUnreachable = 3
)

// exitError ends a command with a code. Every error a command's RunE
// returns is one (see runE); any other error comes from cobra's parsing of
// the command line and is a usage error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// findings is the error of a command whose output already says what is
// wrong: exit 1 with msg on stderr.
func findings(format string, args ...any) error {
	return &exitError{code: exitFindings, err: fmt.Errorf(format, args...)}
}

// usageError is a bad combination of flags found in RunE.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// unreachableError ends a command whose output already says what could
// not be reached: exit 3 with msg on stderr.
func unreachableError(format string, args ...any) error {
	return &exitError{code: exitUnreachable, err: fmt.Errorf(format, args...)}
}

// runE adapts a command's body: an error it returns that is not an
// exitError exits 3 when it says something could not be reached
// (isUnreachable), else 1.
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var ee *exitError
		if err != nil && !errors.As(err, &ee) {
			code := exitFindings
			if isUnreachable(err) {
				code = exitUnreachable
			}
			err = &exitError{code: code, err: err}
		}
		return err
	}
}

// run runs fleetctl with args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintf(stderr, "fleetctl: %v\n", ee.err)
		if ee.code == exitUsage {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "fleetctl: %v\n", err)
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return exitUsage
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "fleetctl",
		Short: "Review, pin and verify changes to a gitfleet fleet repo",
		Long: `fleetctl is the operator's tool for a gitfleet fleet repo: the Git repository
whose YAML specs (fleet.yaml, workloads/, groups/, nodes/) say which model
containers every edge node runs. Operators change the fleet by pull request;
fleetctl makes a pull request reviewable and its images trustworthy.

  validate   check a revision: every error with file:line and field, plus warnings
  plan       what a change does on every node: workloads added, changed, removed, bytes to download
  pin        rewrite image tags to @sha256: digests resolved from the registry
  status     the fleet read back from the nodes' status refs: up-to-date, updating, failing, stale, offline
  schema     the JSON Schema of the format, for editors
  sign       sign an image with a cosign key (legacy .sig or sigstore bundle)
  verify     verify an image's signatures or a commit's signature, offline
  keygen     make an image signing key pair (cosign.key, cosign.pub) without cosign
  secret     encrypt a value with age to the nodes that may read it (spec.secrets)
  node       ask the fleetd on this machine for its status, or to sync now
  usb        carry the fleet to air-gapped nodes on a USB stick, and their status back

Output that is data takes --output (text, json, markdown; github for validate).
Exit codes: 0 success, 1 findings or refusal, 2 bad usage, 3 unreachable (a
registry, git server or fleetd's local API could not be reached: nothing was
decided, retry later).`,
		Example: `  # Check the fleet repo in the current directory
  fleetctl validate

  # Check a branch of a remote fleet repo without cloning it
  fleetctl validate --repo https://git.example.com/plant/fleet.git --rev main

  # What does this pull request do to the fleet? (in CI, as a PR comment)
  fleetctl plan --base origin/main --head HEAD --output markdown

  # Pin every image tag to the digest it points at now
  fleetctl pin --dry-run

  # Editors: add to the top of a workload file
  #   # yaml-language-server: $schema=fleet.schema.json
  fleetctl schema > fleet.schema.json

  # Make an image key pair, sign and verify a model image
  fleetctl keygen
  COSIGN_PASSWORD=… fleetctl sign image registry.example.com/models/detector:v2 --key cosign.key
  fleetctl verify image registry.example.com/models/detector@sha256:… --key trust/cosign.pub

  # Who signed the head of main?
  fleetctl verify commit main --repo . --trust /etc/gitfleet/trust

  # Shell completion (bash, zsh, fish, powershell)
  source <(fleetctl completion bash)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Get().String("fleetctl"),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddCommand(
		newValidateCmd(),
		newPlanCmd(),
		newPinCmd(),
		newSchemaCmd(),
		newSignCmd(),
		newVerifyCmd(),
		newStatusCmd(),
		newKeygenCmd(),
		newSecretCmd(),
		newUSBCmd(),
		newNodeCmd(),
	)
	return root
}
