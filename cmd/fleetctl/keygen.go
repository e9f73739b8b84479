package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gitfleet/gitfleet/image"
)

type keygenOptions struct {
	prefix string
	force  bool
}

func newKeygenCmd() *cobra.Command {
	var o keygenOptions
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make an image signing key pair (cosign.key, cosign.pub)",
		Long: `keygen makes an ECDSA P-256 key pair for signing images, in the files
'cosign generate-key-pair' writes, so that no cosign is needed:
  <prefix>.key  the private key, encrypted with a password (scrypt and NaCl
                secretbox, "ENCRYPTED SIGSTORE PRIVATE KEY"); keep it off
                the nodes and out of the fleet repo
  <prefix>.pub  the public key (PKIX PEM): commit it to the fleet repo's
                trust/ and list it in fleet.yaml's spec.trust.images.keys,
                and copy it into each node's trust dir (/etc/gitfleet/trust)

The password comes from COSIGN_PASSWORD (may be empty) or is asked for
twice on the terminal. fleetctl sign and cosign sign read the key with the
same password.`,
		Example: `  fleetctl keygen
  COSIGN_PASSWORD=… fleetctl keygen --output-key-prefix keys/plant-1
  COSIGN_PASSWORD=… fleetctl sign image registry.example.com/models/detector:v2 --key cosign.key`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return runKeygen(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		}),
	}
	cmd.Flags().StringVar(&o.prefix, "output-key-prefix", "cosign", "write <prefix>.key and <prefix>.pub")
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite existing key files")
	return cmd
}

func runKeygen(stdin io.Reader, stdout, stderr io.Writer, o keygenOptions) error {
	privFile, pubFile := o.prefix+".key", o.prefix+".pub"
	if !o.force {
		for _, f := range []string{privFile, pubFile} {
			if _, err := os.Stat(f); err == nil {
				return fmt.Errorf("%s exists: not overwriting it without --force", f)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	pw, err := keyPassword(stdin, stderr)
	if err != nil {
		return err
	}
	kp, err := image.GenerateKeyPair(pw)
	if err != nil {
		return err
	}
	if err := os.WriteFile(privFile, kp.Private, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(pubFile, kp.Public, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Private key written to %s\nPublic key written to %s\n", privFile, pubFile)
	return nil
}

// keyPassword takes the password from COSIGN_PASSWORD, else asks for it
// twice on the terminal.
func keyPassword(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if pw, ok := os.LookupEnv("COSIGN_PASSWORD"); ok {
		return []byte(pw), nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("no terminal to ask for the password: set COSIGN_PASSWORD (it may be empty)")
	}
	fmt.Fprint(stderr, "Enter password for private key: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(stderr, "Enter password for private key again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("passwords do not match")
	}
	return pw, nil
}
