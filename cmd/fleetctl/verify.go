package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/image"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/trust"
)

func newVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify an image's signatures or a commit's signature, offline",
		Long: `verify checks signatures the way fleetd does before it applies anything:
with keys you hold, and no network but the registry (no transparency log).`,
	}
	cmd.AddCommand(newVerifyImageCmd(), newVerifyCommitCmd())
	return cmd
}

type verifyImageOptions struct {
	ref       string
	keys      []string
	min       int
	plainHTTP bool
	output    string
}

func newVerifyImageCmd() *cobra.Command {
	var o verifyImageOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "image REF --key FILE...",
		Short: "Verify that trusted keys signed an image (cosign legacy or sigstore bundle)",
		Long: `verify image resolves REF to a digest and accepts it only if at least
--min-signatures of the given cosign public keys signed exactly that digest,
in cosign's legacy format (the sha256-<hex>.sig tag) or as a sigstore bundle
(an OCI referrer, or the sha256-<hex> tag on registries without the
referrers API). It prints the digest and which key and format matched, and
exits 1 with the reason when the image is refused.`,
		Example: `  fleetctl verify image registry.example.com/models/detector@sha256:… --key trust/cosign.pub
  fleetctl verify image 127.0.0.1:5000/models/detector:v2 --key a.pub --key b.pub --min-signatures 2 --plain-http`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.ref, o.output = args[0], out.value
			return runVerifyImage(cmd.Context(), cmd.OutOrStdout(), o)
		}),
	}
	cmd.Flags().StringArrayVar(&o.keys, "key", nil, "cosign public key (PEM); repeat for several (required)")
	cmd.Flags().IntVar(&o.min, "min-signatures", 1, "how many distinct keys must have signed")
	cmd.Flags().BoolVar(&o.plainHTTP, "plain-http", false, "reach the registry over HTTP (loopback and lab registries)")
	_ = cmd.MarkFlagRequired("key")
	out = addOutputFlag(cmd, outText, outJSON)
	return cmd
}

// registriesFor is the registry settings for ref's host.
func registriesFor(ref string, plainHTTP bool) ([]spec.Registry, error) {
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if !plainHTTP {
		return nil, nil
	}
	return []spec.Registry{{Host: img.Host, PlainHTTP: true}}, nil
}

func runVerifyImage(ctx context.Context, w io.Writer, o verifyImageOptions) error {
	if o.min < 1 {
		return usageError("--min-signatures %d: want 1 or more", o.min)
	}
	pems := map[string][]byte{}
	for _, k := range o.keys {
		b, err := os.ReadFile(k)
		if err != nil {
			return err
		}
		pems[k] = b
	}
	keys, err := image.ParsePublicKeys(pems)
	if err != nil {
		return err
	}
	regs, err := registriesFor(o.ref, o.plainHTTP)
	if err != nil {
		return err
	}
	res, err := image.Verify(ctx, o.ref, keys, image.Options{Registries: regs, MinSignatures: o.min})
	if errors.Is(err, image.ErrRefused) {
		if o.output == outJSON {
			var re *image.RefusedError
			errors.As(err, &re)
			if werr := writeJSON(w, imageRefusedView(o.ref, re)); werr != nil {
				return werr
			}
		}
		return findings("%v", err)
	}
	if err != nil {
		return err
	}
	if o.output == outJSON {
		return writeJSON(w, imageVerifiedView(o.ref, res))
	}
	fmt.Fprintf(w, "verified %s\ndigest %s\nsource %s\n", res.Ref, res.Digest, res.Source)
	for _, s := range res.Signatures {
		fmt.Fprintf(w, "  %s signature by %s (%s)\n", s.Format, s.KeyName, s.Source)
	}
	return nil
}

type verifyCommitOptions struct {
	rev, repo, trust string
	output           string
}

func newVerifyCommitCmd() *cobra.Command {
	var o verifyCommitOptions
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "commit REV --trust DIR",
		Short: "Verify a commit's SSH or OpenPGP signature against a trust folder",
		Long: `verify commit checks the signature of commit REV (gpgsig: an SSH signature
in git's namespace, or OpenPGP) against the keys in --trust DIR, the layout
of a node's /etc/gitfleet/trust: allowed_signers (git's format, with its
namespaces, valid-after and valid-before options, checked at the committer
time) and *.asc / *.gpg OpenPGP public keys. It prints the signer and
exits 1 with the reason and the keys tried when the commit is refused.

It checks one commit's signature; fleetd's ancestry and key-rotation rules
are not applied here.`,
		Example: `  fleetctl verify commit HEAD --trust /etc/gitfleet/trust
  fleetctl verify commit origin/main --repo ~/fleet --trust ./trust --output json`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.rev, o.output = args[0], out.value
			return runVerifyCommit(cmd.Context(), cmd.OutOrStdout(), o)
		}),
	}
	cmd.Flags().StringVar(&o.repo, "repo", ".", "the repository: a local clone or a URL")
	cmd.Flags().StringVar(&o.trust, "trust", "", "folder with allowed_signers and OpenPGP keys (required)")
	_ = cmd.MarkFlagRequired("trust")
	_ = cmd.MarkFlagDirname("trust")
	out = addOutputFlag(cmd, outText, outJSON)
	return cmd
}

func runVerifyCommit(ctx context.Context, w io.Writer, o verifyCommitOptions) error {
	ts, err := trust.LoadDir(o.trust)
	if err != nil {
		return err
	}
	if ts.Len() == 0 {
		return findings("no commit keys in %s (want allowed_signers or *.asc / *.gpg files)", o.trust)
	}
	g, err := openRepo(ctx, o.repo, o.rev)
	if err != nil {
		return err
	}
	c, err := g.Commit(o.rev)
	if err != nil {
		return err
	}
	signer, err := ts.VerifyCommit(c)
	if errors.Is(err, trust.ErrRefused) {
		if o.output == outJSON {
			if werr := writeJSON(w, commitVerifiedJSON{Commit: c.Hash.String(), Reason: err.Error()}); werr != nil {
				return werr
			}
		}
		return findings("%v", err)
	}
	if err != nil {
		return err
	}
	if o.output == outJSON {
		return writeJSON(w, commitVerifiedJSON{Commit: c.Hash.String(), Verified: true, Signer: signerView(signer)})
	}
	fmt.Fprintf(w, "commit %s signed by %s\n", c.Hash, signer)
	return nil
}
