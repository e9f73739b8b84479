package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/spec"
)

type pinOptions struct {
	path           string
	dryRun         bool
	registryConfig string
}

func newPinCmd() *cobra.Command {
	var o pinOptions
	cmd := &cobra.Command{
		Use:   "pin [PATH]",
		Short: "Rewrite image tags to @sha256: digests resolved from the registry",
		Long: `pin finds every image reference without a digest in the fleet repo at PATH
(default "."): spec.image in workloads/, and spec.overrides.<workload>.image
in groups/ and nodes/. It resolves each tag at its registry (fleet.yaml's
spec.registries say which are plain HTTP; credentials come from the Docker
config) and appends the digest, keeping the tag for readers:

  image: registry.example.com/models/detector:v2
  image: registry.example.com/models/detector:v2@sha256:…

Only those lines change: comments, quoting and layout stay, so pinning is a
one-line diff per image. --dry-run prints the diff instead of writing.
It exits 1 if some tag could not be resolved (the others are still pinned).`,
		Example: `  fleetctl pin
  fleetctl pin examples/fleet-repo --dry-run`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.path = args[0]
			}
			return runPin(cmd.Context(), cmd.OutOrStdout(), o)
		}),
	}
	o.path = "."
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the diff, write nothing")
	addRegistryConfigFlag(cmd.Flags(), &o.registryConfig)
	return cmd
}

// imageSite is one unpinned image reference in a file.
type imageSite struct {
	file   string // slash path below the repo root
	line   int    // 1-based
	offset int    // byte offset in the line where the reference ends
	ref    string
	field  string
}

func runPin(ctx context.Context, w io.Writer, o pinOptions) error {
	fi, err := os.Stat(o.path)
	if err != nil {
		return fmt.Errorf("fleet repo %s: %w", o.path, unwrapPath(err))
	}
	if !fi.IsDir() {
		return usageError("%s is not a folder", o.path)
	}
	d, err := openDirFS(o.path)
	if err != nil {
		return err
	}
	defer d.Close()
	root := fs.FS(d)
	sites, problems, err := findUnpinned(root)
	if err != nil {
		return err
	}
	fleet, err := spec.ParseFleet(root)
	if err != nil {
		return err
	}
	registries := fleet.Spec.Registries
	digests := map[string]string{}
	var failed []string
	unreachable := 0
	for _, s := range sites {
		if _, ok := digests[s.ref]; ok {
			continue
		}
		d, err := resolveTag(ctx, s.ref, registries, o.registryConfig)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s:%d: %s: resolve %s: %v", s.file, s.line, s.field, s.ref, err))
			if isUnreachable(err) {
				unreachable++
			}
			digests[s.ref] = ""
			continue
		}
		digests[s.ref] = d
	}
	byFile := map[string][]imageSite{}
	for _, s := range sites {
		if digests[s.ref] != "" {
			byFile[s.file] = append(byFile[s.file], s)
		}
	}
	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	slices.Sort(files)
	for _, f := range files {
		path := filepath.Join(o.path, filepath.FromSlash(f))
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines := strings.SplitAfter(string(data), "\n")
		changed := map[int]string{} // line index → old text
		for _, s := range byFile[f] {
			i := s.line - 1
			if _, done := changed[i]; !done {
				changed[i] = lines[i]
			}
		}
		// Rewrite from the right so offsets on one line stay valid.
		ss := byFile[f]
		slices.SortFunc(ss, func(a, b imageSite) int {
			if a.line != b.line {
				return a.line - b.line
			}
			return b.offset - a.offset
		})
		for _, s := range ss {
			l := lines[s.line-1]
			lines[s.line-1] = l[:s.offset] + "@" + digests[s.ref] + l[s.offset:]
		}
		if o.dryRun {
			writeDiff(w, f, lines, changed)
			continue
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "")), fi.Mode().Perm()); err != nil {
			return err
		}
		for _, s := range byFile[f] {
			fmt.Fprintf(w, "%s:%d: %s: pinned %s@%s\n", s.file, s.line, s.field, s.ref, digests[s.ref])
		}
	}
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	for _, f := range failed {
		fmt.Fprintln(w, f)
	}
	if n := len(failed) + len(problems); n > 0 {
		if unreachable == n {
			return unreachableError("%d image %s not pinned: registry unreachable", n, plural(n, "reference"))
		}
		return findings("%d image %s not pinned", n, plural(n, "reference"))
	}
	if len(sites) == 0 && !o.dryRun {
		fmt.Fprintln(w, "every image is pinned by digest")
	}
	return nil
}

// writeDiff writes a unified diff (no context lines) of the changed lines.
func writeDiff(w io.Writer, file string, lines []string, old map[int]string) {
	idx := make([]int, 0, len(old))
	for i := range old {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	fmt.Fprintf(w, "--- a/%s\n+++ b/%s\n", file, file)
	for _, i := range idx {
		fmt.Fprintf(w, "@@ -%d +%d @@\n-%s+%s", i+1, i+1, withNewline(old[i]), withNewline(lines[i]))
	}
}

func withNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n\\ No newline at end of file\n"
}

// findUnpinned lists the image references without a digest in the
// workloads, groups and nodes of fsys. problems are references that cannot
// be rewritten in place (multi-line scalars).
func findUnpinned(fsys fs.FS) (sites []imageSite, problems []string, err error) {
	for _, dir := range []string{"workloads", "groups", "nodes"} {
		des, err := fs.ReadDir(fsys, dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, de := range des {
			n := de.Name()
			if de.IsDir() || strings.HasPrefix(n, ".") || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			file := dir + "/" + n
			data, err := fs.ReadFile(fsys, file)
			if err != nil {
				return nil, nil, err
			}
			var doc yamlv3.Node
			if yamlv3.Unmarshal(data, &doc) != nil || len(doc.Content) != 1 {
				continue // validate reports it
			}
			lines := strings.SplitAfter(string(data), "\n")
			for _, at := range imageNodes(doc.Content[0], dir) {
				s, ok := siteOf(file, lines, at)
				switch {
				case !ok && at.node.Value != "" && !strings.Contains(at.node.Value, "@"):
					problems = append(problems, fmt.Sprintf("%s:%d: %s: cannot rewrite %q in place (write it on one line)", file, at.node.Line, at.field, at.node.Value))
				case ok:
					sites = append(sites, s)
				}
			}
		}
	}
	return sites, problems, nil
}

type imageNode struct {
	node  *yamlv3.Node
	field string
}

// imageNodes returns the image scalars of a document of dir.
func imageNodes(root *yamlv3.Node, dir string) []imageNode {
	spc := mapValue(root, "spec")
	if dir == "workloads" {
		if n := mapValue(spc, "image"); n != nil {
			return []imageNode{{n, "spec.image"}}
		}
		return nil
	}
	var out []imageNode
	ov := mapValue(spc, "overrides")
	if ov == nil || ov.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(ov.Content); i += 2 {
		if n := mapValue(ov.Content[i+1], "image"); n != nil {
			out = append(out, imageNode{n, "spec.overrides." + ov.Content[i].Value + ".image"})
		}
	}
	return out
}

// mapValue returns the value of key in mapping m (aliases followed).
func mapValue(m *yamlv3.Node, key string) *yamlv3.Node {
	for m != nil && m.Kind == yamlv3.AliasNode {
		m = m.Alias
	}
	if m == nil || m.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			for v.Kind == yamlv3.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

// siteOf places an unpinned reference on its line; ok is false when it is
// pinned already or its text is not found where the parser saw it.
func siteOf(file string, lines []string, at imageNode) (imageSite, bool) {
	n := at.node
	if n.Kind != yamlv3.ScalarNode || n.Value == "" || strings.Contains(n.Value, "@") || n.Line < 1 || n.Line > len(lines) {
		return imageSite{}, false
	}
	line := lines[n.Line-1]
	// yaml.v3 columns count characters; convert to a byte offset.
	runes := []rune(line)
	if n.Column < 1 || n.Column > len(runes) {
		return imageSite{}, false
	}
	start := len(string(runes[:n.Column-1]))
	switch n.Style {
	case yamlv3.DoubleQuotedStyle, yamlv3.SingleQuotedStyle:
		start++
	case 0, yamlv3.TaggedStyle:
	default:
		return imageSite{}, false
	}
	if !strings.HasPrefix(line[start:], n.Value) {
		return imageSite{}, false
	}
	return imageSite{file: file, line: n.Line, offset: start + len(n.Value), ref: n.Value, field: at.field}, true
}

// resolveTag asks ref's registry, or the mirror fleetd would verify and
// pull it from, for the digest its tag points at.
func resolveTag(ctx context.Context, ref string, registries []spec.Registry, registryConfig string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts, err := registryOptions(registryConfig)
	if err != nil {
		return "", err
	}
	opts.Registries = registries
	src, err := image.Resolve(ctx, ref, opts)
	if err != nil {
		return "", err
	}
	return src.Digest, nil
}
