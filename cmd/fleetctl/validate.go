package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/trust"
)

type validateOptions struct {
	path   string // a folder, when repo is empty
	repo   string // a clone or URL
	rev    string
	output string
	strict bool

	checkImages    bool
	registryConfig string
}

func newValidateCmd() *cobra.Command {
	var o validateOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Check a fleet repo: every error with file:line and field, and warnings",
		Long: `validate parses a whole fleet repo the way fleetd does (fleet.yaml, workloads/,
groups/, nodes/), resolves every node of nodes/ and reports every error at
once, each with its file, line and field path. It exits 1 if there is any.

It also warns about likely mistakes, which do not fail the check unless
--strict is given:
  - a group whose selector matches no node of nodes/
  - a workload that no node runs
  - a node that no group selects
Labels that fleetd adds with --labels are not known here. Images not pinned
by digest and mounts outside fleet.yaml's hostPaths are errors already.

The key files fleet.yaml names (spec.trust) must exist and parse. With
--check-images every image reference (workloads' spec.image, image
overrides of groups and nodes) is verified as fleetd verifies it before a
pull: the digest must exist at its registry (or mirror) and be signed by
fleet.yaml's image keys (offline, no transparency log). A refused image is
an error (exit 1); a registry that cannot be reached is reported as
unreachable (exit 3 when nothing else is wrong).

PATH is a folder (default "."), read as Git reads it: a symbolic link is
reported as one and never followed, so nothing outside the folder is read
or quoted. With --repo, a revision is read from a Git
repository instead, a local clone or a URL, without checking it out.`,
		Example: `  fleetctl validate
  fleetctl validate examples/fleet-repo --strict
  fleetctl validate --check-images
  fleetctl validate --repo . --rev origin/main
  fleetctl validate --repo https://git.example.com/plant/fleet.git --rev main --output json
  # In GitHub Actions: errors appear on the pull request's lines
  fleetctl validate --output github`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if o.repo != "" {
					return usageError("give PATH or --repo, not both")
				}
				o.path = args[0]
			}
			if o.rev != "" && o.repo == "" {
				return usageError("--rev needs --repo")
			}
			o.output = out.value
			return runValidate(cmd.Context(), cmd.OutOrStdout(), o)
		}),
	}
	o.path = "."
	cmd.Flags().StringVar(&o.repo, "repo", "", "read a revision from this Git repository (a local clone or a URL) instead of a folder")
	cmd.Flags().StringVar(&o.rev, "rev", "", "the revision to read with --repo (default HEAD)")
	cmd.Flags().BoolVar(&o.strict, "strict", false, "exit 1 on warnings too")
	cmd.Flags().BoolVar(&o.checkImages, "check-images", false, "also verify every image at its registry: the digest exists and is signed by fleet.yaml's image keys")
	addRegistryConfigFlag(cmd.Flags(), &o.registryConfig)
	out = addOutputFlag(cmd, outText, outJSON, outMarkdown, outGitHub)
	return cmd
}

func runValidate(ctx context.Context, w io.Writer, o validateOptions) error {
	var fsys fs.FS
	dir := "."
	if o.repo != "" {
		rev := o.rev
		if rev == "" {
			rev = "HEAD"
		}
		g, err := openRepo(ctx, o.repo, rev)
		if err != nil {
			return err
		}
		t, _, err := g.Tree(rev)
		if err != nil {
			return err
		}
		fsys = t
	} else {
		fi, err := os.Stat(o.path)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return usageError("%s is not a folder", o.path)
		}
		d, err := openDirFS(o.path)
		if err != nil {
			return err
		}
		defer d.Close()
		fsys = d
		dir = workspacePath(o.path)
	}
	copts := plan.CheckOptions{Keys: keyParsers()}
	if o.checkImages {
		ropts, err := registryOptions(o.registryConfig)
		if err != nil {
			return err
		}
		copts.Images = imageChecker{opts: ropts}
	}
	rep, err := plan.CheckWith(ctx, fsys, copts)
	if err != nil {
		return err
	}
	switch o.output {
	case outJSON:
		err = writeJSON(w, rep)
	case outMarkdown:
		err = rep.Markdown(w)
	case outGitHub:
		err = rep.GitHub(w, dir)
	default:
		err = rep.Text(w)
	}
	if err != nil {
		return err
	}
	if rep.Failed(o.strict) {
		return findings("%s", rep)
	}
	if len(rep.Unreachable) > 0 {
		return unreachableError("%s", rep)
	}
	return nil
}

// keyParsers parse key files with the agent's own parsers: an
// allowed_signers file and OpenPGP keys as package trust reads a node's
// trust dir, image keys as package image does. A file without a single
// key is an error too: it trusts nobody.
func keyParsers() plan.KeyParsers {
	commitKeys := func(asName string) func(string, []byte) error {
		return func(name string, data []byte) error {
			// trust.Parse tells the formats apart by file name.
			key := name
			if !strings.HasSuffix(name, asName) {
				key = name + "/" + asName
			}
			ts, err := trust.Parse(map[string][]byte{key: data})
			if err != nil {
				return errors.New(strings.ReplaceAll(err.Error(), key, name))
			}
			if ts.Len() == 0 {
				return errors.New("holds no key")
			}
			return nil
		}
	}
	return plan.KeyParsers{
		AllowedSigners: commitKeys("allowed_signers"),
		OpenPGP:        commitKeys(".asc"),
		ImageKey: func(name string, data []byte) error {
			_, err := image.ParsePublicKeys(map[string][]byte{name: data})
			return err
		},
	}
}

// workspacePath is path relative to the current directory (where CI runs,
// the workspace root) when it lies below it, slash-separated.
func workspacePath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	wd, err := os.Getwd()
	if err != nil {
		return filepath.ToSlash(path)
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}
