package image

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// KeyPair is a new image signing key as `cosign generate-key-pair` writes
// it: Private is cosign.key, Public is cosign.pub.
type KeyPair struct {
	Private []byte // PEM "ENCRYPTED SIGSTORE PRIVATE KEY"
	Public  []byte // PEM "PUBLIC KEY" (PKIX)
}

// GenerateKeyPair makes an ECDSA P-256 key pair. The private key is a
// PKCS#8 key sealed with password by go-securesystemslib's encrypted
// format (scrypt and NaCl secretbox), the library cosign seals its keys
// with, so cosign, fleetctl sign and LoadEncryptedPrivateKey all read it.
// An empty password is allowed, as cosign allows it.
func GenerateKeyPair(password []byte) (*KeyPair, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	sealed, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, fmt.Errorf("seal private key: %w", err)
	}
	pub, err := MarshalPublicKey(priv)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		Private: pem.EncodeToMemory(&pem.Block{Type: cosignKeyPEM, Bytes: sealed}),
		Public:  pub,
	}, nil
}
