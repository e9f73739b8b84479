package image

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// KeySet is a set of trusted public keys, each known by a name (usually
// its file name) that errors and results report.
type KeySet struct {
	keys []namedKey // sorted by name
}

type namedKey struct {
	name string
	pub  crypto.PublicKey
	der  []byte // PKIX DER: identifies the key, whatever its name
}

// ParsePublicKeys reads trusted keys: name -> PKIX PEM ("PUBLIC KEY"), as
// `cosign generate-key-pair` writes cosign.pub. ECDSA (P-256, P-384, P-521)
// and Ed25519 keys are accepted. Errors name the key.
func ParsePublicKeys(pems map[string][]byte) (*KeySet, error) {
	if len(pems) == 0 {
		return nil, errors.New("no trusted image keys")
	}
	ks := &KeySet{}
	var errs []error
	for name, b := range pems {
		k, err := parsePublicKey(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %s: %w", name, err))
			continue
		}
		k.name = name
		ks.keys = append(ks.keys, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(ks.keys, func(a, b namedKey) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return ks, nil
}

func parsePublicKey(b []byte) (namedKey, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return namedKey{}, errors.New("no PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return namedKey{}, fmt.Errorf("PEM block %q, want \"PUBLIC KEY\"", block.Type)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return namedKey{}, errors.New("more than one PEM block (one key per file)")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return namedKey{}, err
	}
	if err := checkKeyType(pub); err != nil {
		return namedKey{}, err
	}
	return namedKey{pub: pub, der: block.Bytes}, nil
}

func checkKeyType(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if _, err := ecdsaHash(k.Curve); err != nil {
			return err
		}
		return nil
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("unsupported key type %T (want ECDSA or Ed25519)", pub)
}

// Names returns the keys' names, sorted.
func (ks *KeySet) Names() []string {
	if ks == nil {
		return nil
	}
	names := make([]string, len(ks.keys))
	for i, k := range ks.keys {
		names[i] = k.name
	}
	return names
}

// Len returns the number of keys.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.keys)
}

// verify returns the trusted keys under which sig is a valid signature of
// msg.
func (ks *KeySet) verify(msg, sig []byte) []namedKey {
	var ok []namedKey
	for _, k := range ks.keys {
		if verifySignature(k.pub, msg, sig) {
			ok = append(ok, k)
		}
	}
	return ok
}

// verifySignature checks sig over msg the way cosign signs with a key:
// ECDSA over the curve's hash (SHA-256 for P-256), ASN.1 encoded; Ed25519
// over the message itself.
func verifySignature(pub crypto.PublicKey, msg, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		h, err := ecdsaHash(k.Curve)
		if err != nil {
			return false
		}
		return ecdsa.VerifyASN1(k, digestOf(h, msg), sig)
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k, msg, sig)
	}
	return false
}

// sign signs msg with key as cosign does (see verifySignature).
func sign(key crypto.Signer, msg []byte) ([]byte, error) {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		h, err := ecdsaHash(k.Curve)
		if err != nil {
			return nil, err
		}
		return key.Sign(rand.Reader, digestOf(h, msg), h)
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	default:
		return nil, fmt.Errorf("unsupported key type %T (want ECDSA or Ed25519)", k)
	}
}

func ecdsaHash(c elliptic.Curve) (crypto.Hash, error) {
	switch c {
	case elliptic.P256():
		return crypto.SHA256, nil
	case elliptic.P384():
		return crypto.SHA384, nil
	case elliptic.P521():
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("unsupported ECDSA curve %s", c.Params().Name)
}

func digestOf(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	d := sha256.Sum256(msg)
	return d[:]
}

// keyHint is the sigstore bundle's public key hint: base64 of the SHA-256
// of the PKIX DER public key.
func keyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return b64(sum[:]), nil
}

// LoadPrivateKey reads an unencrypted private key in PEM: PKCS#8
// ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"). For cosign's encrypted
// cosign.key, use LoadEncryptedPrivateKey.
func LoadPrivateKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("private key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case cosignKeyPEM, cosignKeyPEMOld:
		return nil, errors.New("private key: encrypted cosign key: use LoadEncryptedPrivateKey with its password")
	default:
		return nil, fmt.Errorf("private key: PEM block %q, want \"PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return signerOf(key)
}

func signerOf(key any) (crypto.Signer, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key: %T cannot sign", key)
	}
	if err := checkKeyType(s.Public()); err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return s, nil
}

// MarshalPublicKey returns the PKIX PEM of key's public half, as cosign.pub
// holds it.
func MarshalPublicKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = pem.Encode(&buf, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return buf.Bytes(), err
}
