package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/plan"
)

// While plan runs (unless the environment sets GOGC or GOMEMLIMIT) the
// garbage collector does not run before the Go heap and stacks reach
// planGCFloor bytes, then collects at GOGC planGCPercent.
const (
	planGCFloor   = 64 << 20
	planGCPercent = 400
)

type planOptions struct {
	repo, base, head string
	output           string
	platform         string
	offline          bool
	registryConfig   string
}

func newPlanCmd() *cobra.Command {
	var o planOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "plan --base REV --head REV",
		Short: "Show what a change does on every node: workloads added, changed, removed, bytes to download",
		Long: `plan compares two revisions of the fleet repo node by node. Every node of
nodes/ is resolved at both (with the labels of its file; labels fleetd adds
with --labels are not known here), and for each node that changes it lists:
  - workloads added and removed,
  - workloads changed, with each field that changed (image digests old → new),
  - the bytes the node will download: the compressed layers of its new images
    that none of the images it ran at base already has, read from the
    registries' manifests (fleet.yaml's spec.registries say which are plain
    HTTP). An unreachable registry is reported per image; the plan goes on.
  - whether each image it downloads is signed, checked as fleetd checks it
    before a pull: the digest must exist at its registry and be signed by
    head's fleet.yaml spec.trust.images.keys (offline). A refused image is
    an error of head (exit 1); an image whose registry cannot be reached is
    reported as unreachable (exit 3 when nothing is refused).
  - each changed node's rollout wave, when its group has spec.rollout.waves.

Revisions are anything git understands: hashes, branches, tags, main~1.
--repo is a local clone (default "."), read in place, or a URL, fetched
into memory.
The markdown output is a pull-request comment: a summary table first, the
details per node folded. It exits 1 if head does not parse or some node
cannot resolve it.`,
		Example: `  fleetctl plan --base origin/main --head HEAD
  fleetctl plan --base main~1 --head main --output json
  # In CI, as a PR comment:
  fleetctl plan --base "$BASE" --head "$HEAD" --output markdown > plan.md
  fleetctl plan --repo https://git.example.com/plant/fleet.git --base main --head refs/pull/42/head`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.output = out.value
			return runPlan(cmd.Context(), cmd.OutOrStdout(), o)
		}),
	}
	cmd.Flags().StringVar(&o.repo, "repo", ".", "the fleet repo: a local clone or a URL")
	cmd.Flags().StringVar(&o.base, "base", "", "the revision the change applies to (required)")
	cmd.Flags().StringVar(&o.head, "head", "", "the revision with the change (required)")
	cmd.Flags().StringVar(&o.platform, "platform", image.DefaultPlatform, "platform picked from multi-platform images when counting bytes")
	cmd.Flags().BoolVar(&o.offline, "offline", false, "do not contact registries (no download sizes, no signature checks)")
	addRegistryConfigFlag(cmd.Flags(), &o.registryConfig)
	_ = cmd.MarkFlagRequired("base")
	_ = cmd.MarkFlagRequired("head")
	out = addOutputFlag(cmd, outText, outJSON, outMarkdown)
	return cmd
}

func runPlan(ctx context.Context, w io.Writer, o planOptions) error {
	switch {
	case os.Getenv("GOGC") != "":
	case os.Getenv("GOMEMLIMIT") != "":
		defer debug.SetGCPercent(debug.SetGCPercent(planGCPercent))
	default:
		// One plan, then exit: most of what it allocates is short-lived
		// (node files, trees, parsed nodes). Collecting a fifth as often
		// as GOGC 100 cut the command's CPU by about a sixth at 10,000
		// nodes for about 10 MiB more at its peak; a plan of 10,000 nodes
		// allocates 17 to 23 MB in all, and the one collection GOGC 400
		// still made cost about 4 ms of CPU.
		defer collectFrom(planGCFloor, planGCPercent)()
	}
	g, err := openRepo(ctx, o.repo, o.base, o.head)
	if err != nil {
		return err
	}
	baseFS, baseRev, err := g.Tree(o.base)
	if err != nil {
		return err
	}
	headFS, headRev, err := g.Tree(o.head)
	if err != nil {
		return err
	}
	var opts plan.Options
	if !o.offline {
		ropts, err := registryOptions(o.registryConfig)
		if err != nil {
			return err
		}
		reg, err := image.NewSizer(ropts, o.platform)
		if err != nil {
			return usageError("--platform: %v", err)
		}
		opts.Manifests = reg
		opts.Images = imageChecker{opts: ropts}
	}
	p, err := plan.Compute(ctx, plan.Revision{Name: baseRev, FS: baseFS}, plan.Revision{Name: headRev, FS: headFS}, opts)
	var re *plan.RevisionError
	if errors.As(err, &re) {
		if found, ok := plan.Findings(re); ok {
			if werr := writeRefusedPlan(w, o.output, re, baseRev, headRev, found); werr != nil {
				return werr
			}
			return findings("%s %s does not parse: %d %s", re.Which, short(re.Rev), len(found), plural(len(found), "error"))
		}
	}
	if err != nil {
		return err
	}
	switch o.output {
	case outJSON:
		err = p.WriteJSON(w)
	case outMarkdown:
		err = p.Markdown(w)
	default:
		err = p.Text(w)
	}
	if err != nil {
		return err
	}
	if len(p.Errors) > 0 {
		return findings("%d %s in head: those nodes refuse it", len(p.Errors), plural(len(p.Errors), "error"))
	}
	if n := len(p.Unreachable); n > 0 {
		return unreachableError("%d image %s not checked: registry unreachable", n, plural(n, "reference"))
	}
	return nil
}

// writeRefusedPlan writes the errors of a revision that does not parse in
// the plan's format.
func writeRefusedPlan(w io.Writer, format string, re *plan.RevisionError, base, head string, found []plan.Finding) error {
	switch format {
	case outJSON:
		return writeJSON(w, map[string]any{"base": base, "head": head, "refused": re.Which, "errors": found})
	case outMarkdown:
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n### Fleet plan `%s` → `%s`\n\n", plan.MarkdownMarker, short(base), short(head))
		fmt.Fprintf(&b, "> [!CAUTION]\n> The %s revision does not parse: every node would refuse it. Run `fleetctl validate`.\n\n", re.Which)
		for _, f := range found {
			fmt.Fprintf(&b, "- `%s`\n", strings.ReplaceAll(f.String(), "`", "'"))
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s does not parse:\n", re.Which, short(re.Rev))
	for _, f := range found {
		fmt.Fprintf(&b, "%s\n", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// collectFrom turns the garbage collector off until the memory the Go
// runtime holds reaches floor bytes (a memory limit: the runtime collects
// there), and from that first collection on collects at GOGC percent
// with no limit. restore puts back the settings it found.
func collectFrom(floor int64, percent int) (restore func()) {
	var mu sync.Mutex
	on := true
	oldPercent := debug.SetGCPercent(-1)
	oldLimit := debug.SetMemoryLimit(floor)
	// A cleanup runs once a collection found its object unreachable: the
	// first one, at the floor.
	runtime.AddCleanup(new([64]byte), func(struct{}) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			debug.SetGCPercent(percent)
			debug.SetMemoryLimit(oldLimit)
		}
	}, struct{}{})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		on = false
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	}
}
