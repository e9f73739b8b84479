package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/gitfleet/gitfleet/durable"
)

// StatusKey is a node's own key for its status reports: an ed25519 SSH key
// kept in the agent's state dir. The node signs every status commit with
// it, exactly as `git commit -S` with gpg.format=ssh does (an SSHSIG in
// namespace "git", hash sha512, in the commit's gpgsig header), and its
// public half is enrolled in nodes/<node>.yaml spec.statusKey, so other
// nodes' rollout gates and fleetctl status can tell the node's own reports
// from reports someone else pushed to its ref.
type StatusKey struct {
	signer ssh.Signer
}

// LoadOrCreateStatusKey reads the OpenSSH private key at file, or creates
// a new ed25519 key there (mode 0600, written crash-safe: a crash leaves
// no file or the whole key) when none exists. created says it was made
// now.
func LoadOrCreateStatusKey(file, comment string) (k *StatusKey, created bool, err error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, fmt.Errorf("status key: %w", err)
		}
		block, err := ssh.MarshalPrivateKey(priv, comment)
		if err != nil {
			return nil, false, fmt.Errorf("status key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, false, fmt.Errorf("status key: %w", err)
		}
		data = pem.EncodeToMemory(block)
		switch err := durable.Create(file, data, 0o600); {
		case errors.Is(err, fs.ErrExist): // another fleetd made it first
			if data, err = os.ReadFile(file); err != nil {
				return nil, false, fmt.Errorf("status key: %w", err)
			}
		case err != nil:
			return nil, false, fmt.Errorf("status key: %w", err)
		default:
			created = true
		}
	} else if err != nil {
		return nil, false, fmt.Errorf("status key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("status key %s: %w", file, err)
	}
	return &StatusKey{signer: signer}, created, nil
}

// AuthorizedKey is the public half in authorized_keys form, for
// spec.statusKey: "ssh-ed25519 AAAA… comment".
func (k *StatusKey) AuthorizedKey(comment string) string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.signer.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return line
}

// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l shows it.
func (k *StatusKey) Fingerprint() string { return ssh.FingerprintSHA256(k.signer.PublicKey()) }

// Sign returns the armored SSH signature of message in namespace "git",
// what git writes into a commit's gpgsig header (go-git's Signer).
func (k *StatusKey) Sign(message io.Reader) ([]byte, error) {
	sig, err := sshsig.Sign(message, k.signer, sshsig.HashSHA512, gitNamespace)
	if err != nil {
		return nil, fmt.Errorf("sign status commit: %w", err)
	}
	return sshsig.Armor(sig), nil
}

// ParseStatusKey reads one enrolled status key: an SSH public key in
// authorized_keys form ("ssh-ed25519 AAAA… comment"), without options.
func ParseStatusKey(line string) (ssh.PublicKey, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return nil, errors.New("no statusKey enrolled")
	}
	key, _, opts, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	switch {
	case err != nil:
		return nil, fmt.Errorf("statusKey does not parse as an SSH public key: %w", err)
	case len(opts) > 0 || len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("statusKey holds more than one SSH public key line")
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return nil, errors.New("statusKey is a certificate; enrol the plain public key")
	}
	return key, nil
}
