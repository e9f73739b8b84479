package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/usb"
)

func newUSBExportCmd() *cobra.Command {
	var o struct {
		repo, statusRepo, branch, out, user, passFile string
		selectors, nodes                              []string
		sinceStatus, dockerConfig                     bool
	}
	cmd := &cobra.Command{
		Use:   "export --repo URL --out DIR [--selector k=v | --node N]... [--since-status]",
		Short: "Write the fleet and the images some nodes need onto a USB stick",
		Long: `export writes onto the stick mounted at --out (in its gitfleet/ folder) the
branch of the fleet repo, with the history nodes need to prove descent, and
every image the chosen nodes run, with all its cosign signatures, as an OCI
image layout; then gitfleet/manifest.json, last. The nodes are those named by
--node or matched by a --selector (their labels in nodes/<node>.yaml); none
means every node.

--since-status makes a delta stick: only the Git history and the image blobs
the chosen nodes do not hold yet, judged from their last status reports.

It checks the free space first, shows progress when stderr is a terminal,
and can be run again on the same stick to resume or refresh it (blobs there
and whole, checked by digest, are kept; reports nodes wrote on the stick are
kept). See docs/offline.md.`,
		Example: `  fleetctl usb export --repo https://git.example.com/plant-1/fleet.git --out /media/alice/STICK --selector line=a
  fleetctl usb export --repo https://git.example.com/plant-1/fleet.git --out /media/alice/STICK --node press-07 --since-status`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if o.repo == "" || o.out == "" {
				return usageError("--repo and --out are required")
			}
			auth, err := gitAuth(o.user, o.passFile)
			if err != nil {
				return err
			}
			cfg := usb.ExportConfig{
				Branch: o.branch, Out: o.out, Selectors: o.selectors, Nodes: o.nodes,
				SinceStatus: o.sinceStatus, ImageOptions: image.Options{DockerConfig: o.dockerConfig},
			}
			if cfg.Repo, err = source.ParseLocation(o.repo, auth); err != nil {
				return usageError("--repo: %v", err)
			}
			if o.statusRepo != "" {
				if cfg.StatusRepo, err = source.ParseLocation(o.statusRepo, auth); err != nil {
					return usageError("--status-repo: %v", err)
				}
			}
			return usbExport(cmd.Context(), cmd, cfg)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "fleet repo `URL` or path")
	f.StringVar(&o.statusRepo, "status-repo", "", "status repo `URL`, when the fleet keeps status apart (for --since-status)")
	f.StringVar(&o.branch, "branch", "main", "the `branch` the nodes track")
	f.StringVar(&o.out, "out", "", "the stick's mount point `DIR`")
	f.StringArrayVar(&o.selectors, "selector", nil, "choose the nodes whose labels hold `k=v` (repeatable)")
	f.StringArrayVar(&o.nodes, "node", nil, "choose node `N` (repeatable)")
	f.BoolVar(&o.sinceStatus, "since-status", false, "write only what the nodes' last status reports say they lack")
	f.BoolVar(&o.dockerConfig, "docker-config", false, "read registry credentials from the Docker config (docker login)")
	f.StringVar(&o.user, "git-username", "", "user `name` for an HTTP(S) repo")
	f.StringVar(&o.passFile, "git-password-file", "", "`file` holding the HTTP(S) password or token")
	return cmd
}

func usbExport(ctx context.Context, cmd *cobra.Command, cfg usb.ExportConfig) error {
	if isTerminal(os.Stderr) {
		cfg.Progress = progressBar(cmd.ErrOrStderr())
	}
	start := time.Now()
	m, err := usb.Export(ctx, cfg)
	if cfg.Progress != nil {
		fmt.Fprintln(cmd.ErrOrStderr())
	}
	if err != nil {
		return err
	}
	var bytes int64
	for _, f := range m.Files {
		bytes += f.Size
	}
	out := cmd.OutOrStdout()
	kind := "full"
	if m.Delta != nil {
		kind = fmt.Sprintf("delta (%d blobs the nodes hold left out)", len(m.Delta.OmittedBlobs))
	}
	fmt.Fprintf(out, "stick %s/%s: %s, revision %.12s of %s, %d nodes, %d images, %d files, %.1f MiB, in %s\n",
		cfg.Out, usb.Dir, kind, m.Revision, m.Branch, len(m.Targets), len(m.Images), len(m.Files),
		float64(bytes)/(1<<20), time.Since(start).Round(time.Millisecond))
	for _, img := range m.Images {
		fmt.Fprintf(out, "  %s  %d signatures  %v\n", img.Ref, len(img.Signatures), img.Nodes)
	}
	return nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressBar draws the bytes written on one line, at most ten times a
// second.
func progressBar(w io.Writer) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		if time.Since(last) < 100*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(done) / float64(total)
		}
		fmt.Fprintf(w, "\rwriting images: %6.1f / %.1f MiB (%3.0f%%)", float64(done)/(1<<20), float64(total)/(1<<20), pct)
	}
}
