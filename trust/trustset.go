package trust

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"
)

// TrustSet is the set of keys commits may be signed with. The zero value
// and nil are empty sets, which trust nothing.
type TrustSet struct {
	ssh []sshSigner
	pgp []pgpKey
}

type pgpKey struct {
	entity *openpgp.Entity
	at     string // file the key came from
}

// Signer names the key that signed a commit.
type Signer struct {
	// Kind is "ssh" or "openpgp".
	Kind string
	// Principal is the allowed_signers principals field (ssh) or the key's
	// primary user ID (openpgp).
	Principal string
	// Fingerprint is "SHA256:…" as ssh-keygen -l prints it (ssh), or the
	// primary key's fingerprint in upper-case hex as gpg prints it (openpgp).
	Fingerprint string
}

func (s Signer) String() string {
	return fmt.Sprintf("%s %s (%s)", s.Kind, s.Fingerprint, s.Principal)
}

// IsCommitKeyFile reports whether a file of this name holds commit keys:
// "allowed_signers" (git's SSH format) or *.asc / *.gpg (OpenPGP public
// keys, armored or binary). Other files (cosign.pub, README) are ignored.
func IsCommitKeyFile(name string) bool {
	base := path.Base(filepath.ToSlash(name))
	if base == "allowed_signers" {
		return true
	}
	ext := strings.ToLower(path.Ext(base))
	return ext == ".asc" || ext == ".gpg"
}

// LoadDir reads the commit keys in dir (the node's --trust-dir): the file
// allowed_signers and every *.asc and *.gpg file. Subdirectories and other
// files are ignored. A directory with no key files gives an empty set.
func LoadDir(dir string) (*TrustSet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("trust dir: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || !IsCommitKeyFile(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("trust dir: %w", err)
		}
		files[p] = data
	}
	return Parse(files)
}

// Parse reads commit keys from in-memory files, keyed by name: names are
// classified as IsCommitKeyFile says, and other names are ignored. Errors
// name the file (and the line, for allowed_signers); all are returned
// together.
func Parse(files map[string][]byte) (*TrustSet, error) {
	var ssh, pgp []string
	for name := range files {
		switch {
		case !IsCommitKeyFile(name):
		case path.Base(filepath.ToSlash(name)) == "allowed_signers":
			ssh = append(ssh, name)
		default:
			pgp = append(pgp, name)
		}
	}
	return parseFiles(files, ssh, pgp)
}

// parseFiles reads the named files of files as allowed_signers (ssh) and
// OpenPGP keys (pgp), in name order.
func parseFiles(files map[string][]byte, sshNames, pgpNames []string) (*TrustSet, error) {
	sort.Strings(sshNames)
	sort.Strings(pgpNames)
	t := &TrustSet{}
	var errs []error
	for _, name := range sshNames {
		signers, err := parseAllowedSigners(name, files[name])
		if err != nil {
			errs = append(errs, err)
		}
		t.ssh = append(t.ssh, signers...)
	}
	for _, name := range pgpNames {
		el, err := readKeyRing(files[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if len(el) == 0 {
			errs = append(errs, fmt.Errorf("%s: no OpenPGP public key", name))
		}
		for _, e := range el {
			t.pgp = append(t.pgp, pgpKey{entity: e, at: name})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// readKeyRing reads armored or binary OpenPGP public keys.
func readKeyRing(data []byte) (openpgp.EntityList, error) {
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		return openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}

// Extend returns the union of t and other; neither is changed.
func (t *TrustSet) Extend(other *TrustSet) *TrustSet {
	u := &TrustSet{}
	for _, s := range []*TrustSet{t, other} {
		if s == nil {
			continue
		}
		u.ssh = append(u.ssh, s.ssh...)
		u.pgp = append(u.pgp, s.pgp...)
	}
	return u
}

// Len returns the number of keys (allowed_signers lines and OpenPGP keys).
func (t *TrustSet) Len() int {
	if t == nil {
		return 0
	}
	return len(t.ssh) + len(t.pgp)
}

// Keys describes every key of the set, one string each, for messages:
// "ssh SHA256:… (principals)" and "openpgp FINGERPRINT (user id)".
func (t *TrustSet) Keys() []string {
	keys := []string{}
	if t == nil {
		return keys
	}
	for _, s := range t.ssh {
		keys = append(keys, fmt.Sprintf("ssh %s (%s)", ssh.FingerprintSHA256(s.key), s.principals))
	}
	for _, k := range t.pgp {
		s := pgpSigner(k.entity)
		keys = append(keys, s.Kind+" "+s.Fingerprint+" ("+s.Principal+")")
	}
	// A key both the node and the repo list is one key.
	seen := make(map[string]bool, len(keys))
	return slices.DeleteFunc(keys, func(k string) bool {
		dup := seen[k]
		seen[k] = true
		return dup
	})
}

func pgpSigner(e *openpgp.Entity) Signer {
	s := Signer{Kind: "openpgp", Fingerprint: strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint))}
	if id := e.PrimaryIdentity(); id != nil {
		s.Principal = id.Name
	}
	return s
}
