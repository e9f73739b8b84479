package trust

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// ErrUntrustedReport matches (errors.Is) every answer of VerifyReport that
// is not a yes.
var ErrUntrustedReport = errors.New("untrusted status report")

// untrusted is VerifyReport's "no", with the reason.
type untrusted struct{ reason string }

func (e *untrusted) Error() string        { return e.reason }
func (e *untrusted) Is(target error) bool { return target == ErrUntrustedReport }

// VerifyReport checks a status report's commit: signature is its gpgsig
// header, payload the commit without that header (the signed bytes), and
// statusKey the key enrolled for the report's node (nodes/<node>.yaml
// spec.statusKey; "" when none is). The report is trusted only when the
// commit carries exactly one SSH signature, in namespace "git", made by
// statusKey over payload: what `git verify-commit` checks with statusKey
// as the node's one allowed signer. It returns the signing key's SHA256
// fingerprint, or an error matching ErrUntrustedReport that says why not.
// A report is untrusted when no key is enrolled.
func VerifyReport(statusKey, signature string, payload []byte) (string, error) {
	no := func(format string, args ...any) (string, error) {
		return "", &untrusted{reason: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(statusKey) == "" {
		return no("no statusKey enrolled for the node")
	}
	want, err := ParseStatusKey(statusKey)
	if err != nil {
		return no("enrolled %v", err)
	}
	wantName := fmt.Sprintf("%s key %s", want.Type(), ssh.FingerprintSHA256(want))
	if strings.TrimSpace(signature) == "" {
		return no("commit not signed (want %s)", wantName)
	}
	if n := countBlocks(signature); n != 1 {
		return no("signature header holds %d signature blocks, want exactly 1", n)
	}
	block, rest := pem.Decode([]byte(signature))
	if block == nil || block.Type != sshsig.PEMType || len(bytes.TrimSpace(rest)) != 0 {
		first, _, _ := strings.Cut(signature, "\n")
		return no("not an SSH signature (%.40q)", first)
	}
	sig, err := sshsig.ParseSignature(block.Bytes)
	if err != nil {
		return no("malformed SSH signature: %v", err)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	got := fmt.Sprintf("%s key %s", sig.PublicKey.Type(), fp)
	switch {
	case !bytes.Equal(sig.PublicKey.Marshal(), want.Marshal()):
		return no("signed by %s, not the enrolled %s", got, wantName)
	case sig.Namespace != gitNamespace:
		return no("signature in namespace %q, want %q", sig.Namespace, gitNamespace)
	case sig.Signature.Format == ssh.KeyAlgoRSA:
		return no("signature by %s uses ssh-rsa (SHA-1)", got)
	}
	if err := sshsig.Verify(bytes.NewReader(payload), sig, want, sig.HashAlgorithm, gitNamespace); err != nil {
		return no("signature by %s does not match the commit's content", got)
	}
	return fp, nil
}
