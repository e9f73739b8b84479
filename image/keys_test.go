package image

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePublicKeys(t *testing.T) {
	ec := newECDSA(t)
	ed := newEd25519(t)
	ecPEM, _ := MarshalPublicKey(ec)
	edPEM, _ := MarshalPublicKey(ed)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKIXPublicKey(rsaKey.Public())

	ks, err := ParsePublicKeys(map[string][]byte{"b-ed.pub": edPEM, "a-ec.pub": ecPEM})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ks.Names(), ","); got != "a-ec.pub,b-ed.pub" {
		t.Errorf("names = %s", got)
	}
	for _, tc := range []struct {
		name, wantErr string
		pem           []byte
	}{
		{"empty.pub", "no PEM block", nil},
		{"priv.pub", `PEM block "PRIVATE KEY"`, pemOf(t, "PRIVATE KEY", []byte{1})},
		{"rsa.pub", "unsupported key type", pemOf(t, "PUBLIC KEY", rsaDER)},
		{"two.pub", "more than one PEM block", append(append([]byte{}, ecPEM...), edPEM...)},
		{"junk.pub", "key junk.pub", pemOf(t, "PUBLIC KEY", []byte("junk"))},
	} {
		_, err := ParsePublicKeys(map[string][]byte{"good.pub": ecPEM, tc.name: tc.pem})
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "key "+tc.name+":") {
			t.Errorf("%s: err = %v, want it to name the key and say %q", tc.name, err, tc.wantErr)
		}
	}
	if _, err := ParsePublicKeys(nil); err == nil {
		t.Error("ParsePublicKeys(nil) succeeded")
	}
}

func TestLoadPrivateKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p8ec, _ := x509.MarshalPKCS8PrivateKey(ec)
	p8ed, _ := x509.MarshalPKCS8PrivateKey(ed)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	for name, tc := range map[string]struct {
		pem []byte
		pub any
	}{
		"pkcs8 ecdsa":   {pemOf(t, "PRIVATE KEY", p8ec), ec.Public()},
		"pkcs8 ed25519": {pemOf(t, "PRIVATE KEY", p8ed), ed.Public()},
		"sec1 ecdsa":    {pemOf(t, "EC PRIVATE KEY", sec1), ec.Public()},
	} {
		k, err := LoadPrivateKey(tc.pem)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.pub) {
			t.Errorf("%s: wrong key", name)
		}
	}
	enc := encryptKey(t, p8ec, []byte("hunter2"))
	if _, err := LoadPrivateKey(enc); err == nil || !strings.Contains(err.Error(), "LoadEncryptedPrivateKey") {
		t.Errorf("LoadPrivateKey(encrypted) = %v", err)
	}
	k, err := LoadEncryptedPrivateKey(enc, []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if !k.Public().(*ecdsa.PublicKey).Equal(ec.Public()) {
		t.Error("encrypted key: wrong key")
	}
	if _, err := LoadEncryptedPrivateKey(enc, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("wrong password: %v", err)
	}
}

// encryptKey writes der as cosign.key does (scrypt, nacl/secretbox), with a
// small N to keep the test fast.
func encryptKey(t *testing.T, der, password []byte) []byte {
	var ek encryptedKey
	ek.KDF.Name, ek.Cipher.Name = "scrypt", "nacl/secretbox"
	ek.KDF.Params.N, ek.KDF.Params.R, ek.KDF.Params.P = 1<<10, 8, 1
	ek.KDF.Salt = make([]byte, 32)
	ek.Cipher.Nonce = make([]byte, 24)
	rand.Read(ek.KDF.Salt)
	rand.Read(ek.Cipher.Nonce)
	k, err := scrypt.Key(password, ek.KDF.Salt, 1<<10, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	var nonce [24]byte
	copy(key[:], k)
	copy(nonce[:], ek.Cipher.Nonce)
	ek.Ciphertext = secretbox.Seal(nil, der, &nonce, &key)
	b, _ := json.Marshal(ek)
	return pemOf(t, cosignKeyPEM, b)
}
