package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/gitfleet/gitfleet/secret"
	"github.com/gitfleet/gitfleet/spec"
)

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Encrypt secret values for the nodes of a fleet repo",
	}
	cmd.AddCommand(newSecretEncryptCmd())
	return cmd
}

type secretEncryptOptions struct {
	repo, in, out string
	to, extra     []string
	binary        bool
}

func newSecretEncryptCmd() *cobra.Command {
	var o secretEncryptOptions
	cmd := &cobra.Command{
		Use:   "encrypt --to node:NAME|label:K=V --out FILE",
		Short: "Encrypt a value with age to the nodes that may read it",
		Long: `encrypt reads a value (standard input, or --in FILE) and writes it encrypted
with age to the nodes it names, as an ASCII-armored file to commit to the
fleet repo. A workload then lists it in spec.secrets; only those nodes can
decrypt it, into an environment variable or a file on tmpfs.

Recipients come from the repo's nodes/*.yaml (spec.ageRecipient, printed
on each node by 'fleetd --print-age-recipient'):
  --to node:press-01        one node
  --to label:site=plant-1   every node whose labels match (k=v,k2=v2)
  --recipient age1…         any other recipient, e.g. an operator's own key
A node named without an ageRecipient is an error, never skipped.
Re-encrypt a value after adding nodes: the file changes, so do the
containers that use it.`,
		Example: `  printf %s "$DB_PASSWORD" | fleetctl secret encrypt --to label:site=plant-1 --out secrets/db-password.age
  fleetctl secret encrypt --to node:press-01 --in camera.key --out secrets/press-01-camera.age`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return runSecretEncrypt(cmd.InOrStdin(), cmd.OutOrStdout(), o)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", ".", "the fleet repo's work tree (its nodes/*.yaml)")
	f.StringArrayVar(&o.to, "to", nil, "node:NAME or label:K=V[,K=V]; repeatable")
	f.StringArrayVar(&o.extra, "recipient", nil, "another age recipient (age1…); repeatable")
	f.StringVar(&o.in, "in", "-", "read the value from this file (- for standard input)")
	f.StringVar(&o.out, "out", "", "write the encrypted file here, e.g. secrets/db-password.age (required)")
	f.BoolVar(&o.binary, "binary", false, "write age's binary format instead of ASCII armor")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runSecretEncrypt(stdin io.Reader, stdout io.Writer, o secretEncryptOptions) error {
	if len(o.to) == 0 && len(o.extra) == 0 {
		return usageError("name the readers with --to node:NAME, --to label:K=V or --recipient age1…")
	}
	nodes, err := readNodeRecipients(o.repo)
	if err != nil {
		return err
	}
	recipients, names, err := pickRecipients(nodes, o.to)
	if err != nil {
		return err
	}
	recipients = append(recipients, o.extra...)
	var value []byte
	if o.in == "-" {
		value, err = io.ReadAll(io.LimitReader(stdin, 1<<20+1))
	} else {
		value, err = os.ReadFile(o.in)
	}
	if err != nil {
		return err
	}
	if len(value) == 0 || len(value) > 1<<20 {
		return fmt.Errorf("the value must be 1 byte to 1 MiB, got %d bytes", len(value))
	}
	enc, err := secret.Encrypt(value, recipients, !o.binary)
	clear(value)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, enc, 0o644); err != nil {
		return err
	}
	who := strings.Join(names, ", ")
	if len(o.extra) > 0 {
		who = strings.Join(append(names, fmt.Sprintf("%d other recipient(s)", len(o.extra))), ", ")
	}
	fmt.Fprintf(stdout, "wrote %s for %s\n", o.out, who)
	return nil
}

// nodeRecipient is what encrypt needs of nodes/<name>.yaml.
type nodeRecipient struct {
	file, name, recipient string
	labels                map[string]string
}

// readNodeRecipients reads every nodes/*.yaml of the work tree at repo.
// It decodes only what it needs, so that a repo with unrelated mistakes
// (or a workload that already names the file being written) still works.
func readNodeRecipients(repo string) ([]nodeRecipient, error) {
	files, err := filepath.Glob(filepath.Join(repo, "nodes", "*.y*ml"))
	if err != nil {
		return nil, err
	}
	var out []nodeRecipient
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var n spec.Node
		if err := yaml.Unmarshal(b, &n); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		rel, _ := filepath.Rel(repo, f)
		out = append(out, nodeRecipient{file: rel, name: n.Metadata.Name, recipient: n.Spec.AgeRecipient, labels: n.Metadata.Labels})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no nodes/*.yaml in %s: run in the fleet repo or pass --repo", repo)
	}
	return out, nil
}

// pickRecipients resolves --to into recipients, one per node, and the
// nodes' names.
func pickRecipients(nodes []nodeRecipient, to []string) (recipients, names []string, err error) {
	picked := map[string]nodeRecipient{}
	for _, t := range to {
		kind, arg, _ := strings.Cut(t, ":")
		var match []nodeRecipient
		switch kind {
		case "node":
			for _, n := range nodes {
				if n.name == arg {
					match = append(match, n)
				}
			}
		case "label":
			sel, perr := parseSelector(arg)
			if perr != nil {
				return nil, nil, usageError("--to %s: %v", t, perr)
			}
			for _, n := range nodes {
				if sel.Matches(n.labels) {
					match = append(match, n)
				}
			}
		default:
			return nil, nil, usageError("--to %q: want node:NAME or label:K=V", t)
		}
		if len(match) == 0 {
			return nil, nil, fmt.Errorf("--to %s: no node in nodes/*.yaml matches", t)
		}
		for _, n := range match {
			picked[n.name] = n
		}
	}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(picked)) {
		n := picked[name]
		if n.recipient == "" {
			missing = append(missing, n.file)
			continue
		}
		if _, err := secret.ParseRecipient(n.recipient); err != nil {
			return nil, nil, fmt.Errorf("%s: spec.ageRecipient: %w", n.file, err)
		}
		recipients = append(recipients, n.recipient)
		names = append(names, name)
	}
	if len(missing) > 0 {
		return nil, nil, errors.New("no spec.ageRecipient in " + strings.Join(missing, ", ") + ": run 'fleetd --print-age-recipient' on each node and add it")
	}
	return recipients, names, nil
}

func parseSelector(s string) (spec.Selector, error) {
	sel := spec.Selector{MatchLabels: map[string]string{}}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return sel, fmt.Errorf("%q is not k=v", kv)
		}
		sel.MatchLabels[k] = v
	}
	return sel, nil
}
