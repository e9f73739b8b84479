package trust

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// gitNamespace is the SSHSIG namespace git signs commits in.
const gitNamespace = "git"

// VerifyCommit checks c's signature (the gpgsig header: an SSH signature in
// namespace "git" or an OpenPGP signature) against t and returns the key
// that made it. SSH keys must also pass their allowed_signers options at the
// committer time, as with git verify-commit. OpenPGP keys must be neither
// expired nor revoked now. Every refusal is a *Refusal (errors.Is
// ErrRefused) naming the commit and the keys tried.
func (t *TrustSet) VerifyCommit(c *object.Commit) (Signer, error) {
	return t.verifyAt(c, time.Time{})
}

// verifyAt is VerifyCommit with SSH validity windows judged at the later of
// c's committer time and floor (the last applied revision's committer
// time; zero for none), so a backdated commit cannot bring an expired key
// back: see Verifier.
func (t *TrustSet) verifyAt(c *object.Commit, floor time.Time) (Signer, error) {
	if t == nil {
		t = &TrustSet{}
	}
	refuse := func(reason string, err error) (Signer, error) {
		return Signer{}, &Refusal{Commit: c.Hash.String(), Reason: reason, Tried: t.Keys(), Err: err}
	}
	sig := c.PGPSignature
	if strings.TrimSpace(sig) == "" {
		return refuse("not signed", nil)
	}
	if n := countBlocks(sig); n != 1 {
		return refuse(fmt.Sprintf("signature header holds %d signature blocks, want exactly 1", n), nil)
	}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return Signer{}, fmt.Errorf("commit %s: signed bytes: %w", c.Hash, err)
	}
	switch {
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		return t.verifySSH(c, floor, sig, payload, refuse)
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		return t.verifyPGP(sig, payload, refuse)
	default:
		first, _, _ := strings.Cut(sig, "\n")
		return refuse(fmt.Sprintf("unsupported signature format %q (want SSH or OpenPGP)", first), nil)
	}
}

type refuseFunc func(reason string, err error) (Signer, error)

func (t *TrustSet) verifySSH(c *object.Commit, floor time.Time, armored string, payload *plumbing.MemoryObject, refuse refuseFunc) (Signer, error) {
	block, rest := pem.Decode([]byte(armored))
	if block == nil || block.Type != sshsig.PEMType || len(bytes.TrimSpace(rest)) != 0 {
		return refuse("malformed SSH signature", nil)
	}
	sig, err := sshsig.ParseSignature(block.Bytes)
	if err != nil {
		return refuse("malformed SSH signature", err)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	keyName := fmt.Sprintf("%s key %s", sig.PublicKey.Type(), fp)
	if sig.Namespace != gitNamespace {
		return refuse(fmt.Sprintf("SSH signature by %s is in namespace %q, want %q", keyName, sig.Namespace, gitNamespace), nil)
	}
	if sig.Signature.Format == ssh.KeyAlgoRSA {
		return refuse(fmt.Sprintf("SSH signature by %s uses ssh-rsa (SHA-1)", keyName), nil)
	}
	want := sig.PublicKey.Marshal()
	var matches []*sshSigner
	for i := range t.ssh {
		if bytes.Equal(t.ssh[i].key.Marshal(), want) {
			matches = append(matches, &t.ssh[i])
		}
	}
	if len(matches) == 0 {
		return refuse(fmt.Sprintf("signed with %s, which is not trusted", keyName), nil)
	}
	r, err := payload.Reader()
	if err != nil {
		return Signer{}, err
	}
	if err := sshsig.Verify(r, sig, matches[0].key, sig.HashAlgorithm, gitNamespace); err != nil {
		return refuse(fmt.Sprintf("SSH signature by %s does not match the commit's content", keyName), err)
	}
	when, what := c.Committer.When, "committer time"
	if when.Before(floor) {
		when, what = floor, "the last applied revision's committer time (later than this commit's)"
	}
	var why []string
	for _, m := range matches {
		if reason := m.allows(gitNamespace, when, what); reason != "" {
			why = append(why, reason)
			continue
		}
		return Signer{Kind: "ssh", Principal: m.principals, Fingerprint: fp}, nil
	}
	return refuse(fmt.Sprintf("%s is not allowed to sign this commit: %s", keyName, strings.Join(why, "; ")), nil)
}

func (t *TrustSet) verifyPGP(armored string, payload *plumbing.MemoryObject, refuse refuseFunc) (Signer, error) {
	var keyring openpgp.EntityList
	for _, k := range t.pgp {
		keyring = append(keyring, k.entity)
	}
	issuer := pgpIssuer(armored)
	r, err := payload.Reader()
	if err != nil {
		return Signer{}, err
	}
	entity, err := openpgp.CheckArmoredDetachedSignature(keyring, r, strings.NewReader(armored), nil)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return refuse(fmt.Sprintf("signed with OpenPGP key %s, which is not trusted", issuer), nil)
	case errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrSignatureExpired):
		return refuse(fmt.Sprintf("OpenPGP key %s or its signature has expired", issuer), err)
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return refuse(fmt.Sprintf("OpenPGP key %s is revoked", issuer), err)
	case err != nil:
		return refuse(fmt.Sprintf("OpenPGP signature by %s does not match the commit's content", issuer), err)
	case entity == nil:
		return refuse("OpenPGP signature names no key", nil)
	}
	return pgpSigner(entity), nil
}

// pgpIssuer names the key an armored OpenPGP signature claims, for
// messages: its issuer fingerprint, else its key ID, else "(unknown)".
func pgpIssuer(armored string) string {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return "(unknown)"
	}
	p, err := packet.NewReader(block.Body).Next()
	if err != nil {
		return "(unknown)"
	}
	_, _ = io.Copy(io.Discard, block.Body)
	sig, ok := p.(*packet.Signature)
	switch {
	case !ok:
		return "(unknown)"
	case len(sig.IssuerFingerprint) > 0:
		return strings.ToUpper(fmt.Sprintf("%x", sig.IssuerFingerprint))
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	return "(unknown)"
}

// countBlocks counts the armored blocks ("-----BEGIN ") that start a line.
func countBlocks(sig string) int {
	n := 0
	for _, line := range strings.Split(sig, "\n") {
		if strings.HasPrefix(line, "-----BEGIN ") {
			n++
		}
	}
	return n
}
