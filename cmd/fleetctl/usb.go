package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/usb"
)

// usbTimeout bounds an import's exchanges with the fleet repo.
const usbTimeout = 10 * time.Minute

func newUSBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "usb",
		Short: "Carry the fleet to air-gapped nodes on a USB stick, and their status back",
		Long: `A USB stick serves sites with no link to the fleet repo or the registry.
export writes the branch and the images (with their signatures) the chosen
nodes need onto a stick; fleetd --usb-root on each node verifies and applies
it offline and writes its status report back onto the stick; import pushes
those reports to the fleet repo. See docs/offline.md.`,
	}
	cmd.AddCommand(newUSBExportCmd(), newUSBImportCmd())
	return cmd
}

func newUSBImportCmd() *cobra.Command {
	var repo, statusRepo, user, passFile string
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "Push the status reports on a stick to the fleet repo",
		Long: `import pushes every node's status ref (refs/heads/status/<node>) found on the
stick at DIR (its mount point, or its gitfleet/ folder) to --repo, or to
--status-repo when the fleet keeps status apart. A report never replaces a
newer one: when the repository's ref already follows the stick's, or both
moved and the repository's report has the later lastSeen, nothing is pushed;
when both moved and the stick's is later, a merge commit keeps both trails.`,
		Example: `  fleetctl usb import /media/alice/STICK --repo https://git.example.com/plant-1/fleet.git`,
		Args:    cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if repo == "" && statusRepo == "" {
				return usageError("--repo (or --status-repo) is required")
			}
			dest := repo
			if statusRepo != "" {
				dest = statusRepo
			}
			auth, err := gitAuth(user, passFile)
			if err != nil {
				return err
			}
			to, err := source.ParseLocation(dest, auth)
			if err != nil {
				return usageError("%v", err)
			}
			return usbImport(cmd.Context(), cmd, args[0], to)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "fleet repo `URL` or path the reports go to")
	f.StringVar(&statusRepo, "status-repo", "", "status repo `URL`, when the fleet keeps status apart")
	f.StringVar(&user, "git-username", "", "user `name` for an HTTP(S) repo")
	f.StringVar(&passFile, "git-password-file", "", "`file` holding the HTTP(S) password or token")
	return cmd
}

func usbImport(ctx context.Context, cmd *cobra.Command, dir string, to source.Location) error {
	stick, err := usb.Find(dir)
	if err != nil {
		return err
	}
	if err := usb.CheckRepo(stick); err != nil {
		return err
	}
	from, err := source.LocalRepository(stick + "/" + usb.RepoDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, usbTimeout)
	defer cancel()
	done, err := source.CarryStatus(ctx, from, to)
	out := cmd.OutOrStdout()
	for _, c := range done {
		line := fmt.Sprintf("%-24s %-11s %.12s", c.Node, c.Action, c.Commit)
		if c.Reason != "" {
			line += "  " + c.Reason
		}
		fmt.Fprintln(out, line)
	}
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintf(out, "no status reports on %s\n", stick)
	}
	return nil
}

// gitAuth reads HTTP(S) credentials from the flags.
func gitAuth(user, passFile string) (source.Auth, error) {
	auth := source.Auth{Username: user}
	if passFile != "" {
		b, err := os.ReadFile(passFile)
		if err != nil {
			return auth, fmt.Errorf("--git-password-file: %w", err)
		}
		if auth.Password = strings.TrimSpace(string(b)); auth.Password == "" {
			return auth, fmt.Errorf("--git-password-file %s is empty", passFile)
		}
	}
	return auth, nil
}
