// Package secret is the only age adapter (filippo.io/age): a node's age
// identity, kept in the agent's state dir and made on first start;
// encrypting a value to the recipients of the nodes that may read it; and
// decrypting it on the node. Secret values live in the fleet repo only
// encrypted; the plaintext exists only in memory and in what the runtime
// hands the container (env, files on tmpfs).
package secret

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/gitfleet/gitfleet/durable"
)

// Identity is a node's age key pair.
type Identity struct {
	id *age.X25519Identity
}

// Recipient is the public half, "age1…": what nodes/<node>.yaml lists as
// spec.ageRecipient and what values are encrypted to.
func (i *Identity) Recipient() string { return i.id.Recipient().String() }

// LoadOrCreateIdentity reads the identity in file (age-keygen's format),
// or makes a new one there (mode 0600, its folder 0700) when file does not
// exist. created says which.
func LoadOrCreateIdentity(file string) (id *Identity, created bool, err error) {
	b, err := os.ReadFile(file)
	if err == nil {
		ids, err := age.ParseIdentities(bytes.NewReader(b))
		if err != nil {
			return nil, false, fmt.Errorf("age identity %s: %w", file, err)
		}
		x, ok := ids[0].(*age.X25519Identity)
		if len(ids) != 1 || !ok {
			return nil, false, fmt.Errorf("age identity %s: want one X25519 identity (AGE-SECRET-KEY-1…)", file)
		}
		return &Identity{id: x}, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("age identity: %w", err)
	}
	x, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, false, fmt.Errorf("age identity: %w", err)
	}
	text := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), x.Recipient(), x)
	if err := durable.Create(file, []byte(text), 0o600); err != nil {
		return nil, false, fmt.Errorf("age identity: %w", err)
	}
	return &Identity{id: x}, true, nil
}

// ErrNotRecipient is returned by Decrypt for a value that was not
// encrypted to this identity.
var ErrNotRecipient = errors.New("not encrypted to this node's age recipient")

// maxPlaintext bounds a decrypted value.
const maxPlaintext = 1 << 20

// Decrypt opens an age-encrypted value, binary or armored. Its errors
// never hold the plaintext.
func (i *Identity) Decrypt(ciphertext []byte) ([]byte, error) {
	var src io.Reader = bytes.NewReader(ciphertext)
	if IsArmored(ciphertext) {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(src, i.id)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, fmt.Errorf("%w (%s)", ErrNotRecipient, i.Recipient())
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPlaintext+1))
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	if len(b) > maxPlaintext {
		return nil, fmt.Errorf("decrypt: value larger than %d bytes", maxPlaintext)
	}
	return b, nil
}

// Encrypt encrypts plaintext to recipients ("age1…"), armored (ASCII,
// reviewable in a pull request) when armored is set.
func Encrypt(plaintext []byte, recipients []string, armored bool) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipients")
	}
	rs := make([]age.Recipient, 0, len(recipients))
	for _, s := range recipients {
		r, err := ParseRecipient(s)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	var buf bytes.Buffer
	var dst io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&buf)
		dst = aw
	}
	w, err := age.Encrypt(dst, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// ParseRecipient checks an X25519 recipient ("age1…").
func ParseRecipient(s string) (*age.X25519Recipient, error) {
	r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("age recipient %q: %w", s, err)
	}
	return r, nil
}

// IsArmored reports whether b is an ASCII-armored age file.
func IsArmored(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte(armor.Header))
}
