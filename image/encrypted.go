package image

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// PEM types of the encrypted private keys cosign writes (cosign.key).
const (
	cosignKeyPEM    = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignKeyPEMOld = "ENCRYPTED COSIGN PRIVATE KEY"
)

// encryptedKey is the JSON inside cosign.key (go-securesystemslib's
// "encrypted" format): scrypt derives a key that opens a NaCl secretbox
// holding the PKCS#8 DER private key.
type encryptedKey struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// maxScryptN bounds the work a key file can ask for.
const maxScryptN = 1 << 20

// LoadEncryptedPrivateKey reads cosign's encrypted private key (cosign.key
// from `cosign generate-key-pair`) with its password; an unencrypted PEM
// key is read as LoadPrivateKey does.
func LoadEncryptedPrivateKey(b, password []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("private key: no PEM block")
	}
	if block.Type != cosignKeyPEM && block.Type != cosignKeyPEMOld {
		return LoadPrivateKey(b)
	}
	var ek encryptedKey
	if err := json.Unmarshal(block.Bytes, &ek); err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	if ek.KDF.Name != "scrypt" || ek.Cipher.Name != "nacl/secretbox" {
		return nil, fmt.Errorf("private key: kdf %q and cipher %q, want scrypt and nacl/secretbox", ek.KDF.Name, ek.Cipher.Name)
	}
	p := ek.KDF.Params
	if p.N <= 1 || p.N > maxScryptN || p.R <= 0 || p.P <= 0 || p.R*p.P >= 1<<30 {
		return nil, fmt.Errorf("private key: scrypt parameters N=%d r=%d p=%d out of range", p.N, p.R, p.P)
	}
	if len(ek.Cipher.Nonce) != 24 {
		return nil, errors.New("private key: nonce must be 24 bytes")
	}
	k, err := scrypt.Key(password, ek.KDF.Salt, p.N, p.R, p.P, 32)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	var key [32]byte
	var nonce [24]byte
	copy(key[:], k)
	copy(nonce[:], ek.Cipher.Nonce)
	der, ok := secretbox.Open(nil, ek.Ciphertext, &nonce, &key)
	if !ok {
		return nil, errors.New("private key: wrong password or corrupt key")
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return signerOf(priv)
}
