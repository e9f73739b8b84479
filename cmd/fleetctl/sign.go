package main

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gitfleet/gitfleet/image"
)

func newSignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign an image with a cosign key",
	}
	cmd.AddCommand(newSignImageCmd())
	return cmd
}

type signImageOptions struct {
	ref, key  string
	format    string
	plainHTTP bool
}

func newSignImageCmd() *cobra.Command {
	var o signImageOptions
	cmd := &cobra.Command{
		Use:   "image REF --key FILE",
		Short: "Sign an image as cosign does (legacy .sig tag or sigstore bundle)",
		Long: `sign image resolves REF to a digest once and signs that digest with a private
key, writing the signature to the image's registry the way cosign does:
  legacy  a simple-signing layer on the tag sha256-<hex>.sig
  bundle  a sigstore v0.3 bundle attached as an OCI referrer (or the
          sha256-<hex> tag on registries without the referrers API)
Both verify with 'cosign verify --key cosign.pub --insecure-ignore-tlog' and
with fleetd. No transparency log is written to.

--key is cosign's encrypted cosign.key (from cosign generate-key-pair; the
password comes from COSIGN_PASSWORD) or an unencrypted PKCS#8 / SEC 1 PEM
key (ECDSA P-256/384/521 or Ed25519). Registry credentials come from the
Docker config (docker login). After signing, the signature is verified with
the key's public half and the digest printed.`,
		Example: `  COSIGN_PASSWORD=secret fleetctl sign image registry.example.com/models/detector:v2 --key cosign.key
  fleetctl sign image 127.0.0.1:5000/models/detector@sha256:… --key key.pem --format bundle --plain-http`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.ref = args[0]
			return runSignImage(cmd.Context(), cmd.OutOrStdout(), o)
		}),
	}
	cmd.Flags().StringVar(&o.key, "key", "", "private key: cosign.key (COSIGN_PASSWORD) or PKCS#8 PEM (required)")
	cmd.Flags().StringVar(&o.format, "format", string(image.FormatLegacy), "signature format: legacy or bundle")
	cmd.Flags().BoolVar(&o.plainHTTP, "plain-http", false, "reach the registry over HTTP (loopback and lab registries)")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"legacy", "bundle"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runSignImage(ctx context.Context, w io.Writer, o signImageOptions) error {
	sign := map[string]func(context.Context, string, crypto.Signer, image.Options) error{
		string(image.FormatLegacy): image.SignLegacy,
		string(image.FormatBundle): image.SignBundle,
	}[o.format]
	if sign == nil {
		return usageError("--format %q: want legacy or bundle", o.format)
	}
	key, err := loadSigningKey(o.key)
	if err != nil {
		return err
	}
	regs, err := registriesFor(o.ref, o.plainHTTP)
	if err != nil {
		return err
	}
	opts := image.Options{Registries: regs}
	if err := sign(ctx, o.ref, key, opts); err != nil {
		return err
	}
	pub, err := image.MarshalPublicKey(key)
	if err != nil {
		return err
	}
	keys, err := image.ParsePublicKeys(map[string][]byte{o.key: pub})
	if err != nil {
		return err
	}
	res, err := image.Verify(ctx, o.ref, keys, opts)
	if err != nil {
		return fmt.Errorf("signed, but the signature does not verify: %w", err)
	}
	fmt.Fprintf(w, "signed %s (%s)\n", res.Ref, o.format)
	return nil
}

// loadSigningKey reads a PEM private key; cosign's encrypted keys take the
// password from COSIGN_PASSWORD.
func loadSigningKey(file string) (crypto.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pw, set := os.LookupEnv("COSIGN_PASSWORD")
	if bytes.Contains(b, []byte("-----BEGIN ENCRYPTED ")) && !set {
		return nil, fmt.Errorf("%s is an encrypted cosign key: set COSIGN_PASSWORD", file)
	}
	key, err := image.LoadEncryptedPrivateKey(b, []byte(pw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return key, nil
}
