package image

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

const fixtureDigest = "sha256:0ad5a1e8b4f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9"

// The legacy payload, byte for byte as signing-formats.md shows it.
const fixturePayload = `{"critical":{"identity":{"docker-reference":"registry.example/models/defect"},"image":{"docker-manifest-digest":"` + fixtureDigest + `"},"type":"cosign container image signature"},"optional":null}`

func TestLegacyPayloadFixture(t *testing.T) {
	got, err := legacyPayload("registry.example/models/defect", fixtureDigest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != fixturePayload {
		t.Errorf("payload\n got %s\nwant %s", got, fixturePayload)
	}
	d, err := legacySignedDigest([]byte(fixturePayload))
	if err != nil || d != fixtureDigest {
		t.Errorf("signed digest = %q, %v; want %s", d, err, fixtureDigest)
	}
	withOpt, _ := legacyPayload("r/m", fixtureDigest, map[string]any{"sig": "a"})
	if !strings.HasSuffix(string(withOpt), `"optional":{"sig":"a"}}`) {
		t.Errorf("payload with annotations = %s", withOpt)
	}
	for _, bad := range []string{
		`{"critical":{"image":{"docker-manifest-digest":"` + fixtureDigest + `"},"type":"something else"}}`,
		`{"critical":{"type":"cosign container image signature"}}`,
		`not json`,
	} {
		if d, err := legacySignedDigest([]byte(bad)); err == nil {
			t.Errorf("legacySignedDigest(%s) = %s, want an error", bad, d)
		}
	}
}

func TestPAE(t *testing.T) {
	// The example of the DSSE specification (protocol.md).
	got := pae("http://example.com/HelloWorld", []byte("hello world"))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if string(got) != want {
		t.Errorf("pae = %q, want %q", got, want)
	}
	if got := pae(InTotoPayloadType, nil); string(got) != "DSSEv1 28 application/vnd.in-toto+json 0 " {
		t.Errorf("pae of an empty payload = %q", got)
	}
}

// TestBundleFixture checks a bundle written by hand in the shape cosign v3
// writes, signed by a fixed key, against the checks Verify makes.
func TestBundleFixture(t *testing.T) {
	block, _ := pem.Decode([]byte(fixtureKey))
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := priv.(*ecdsa.PrivateKey)
	hex := strings.TrimPrefix(fixtureDigest, "sha256:")
	stmt := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/models/defect","digest":{"sha256":"` + hex + `"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`
	gen, _ := newStatement("registry.example/models/defect", hex, SignPredicateType)
	if string(gen) != stmt {
		t.Errorf("statement\n got %s\nwant %s", gen, stmt)
	}
	sig, err := sign(key, pae(InTotoPayloadType, []byte(stmt)))
	if err != nil {
		t.Fatal(err)
	}
	hint, _ := keyHint(key.Public())
	b := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"` + hint + `"}},` +
		`"dsseEnvelope":{"payload":"` + base64.StdEncoding.EncodeToString([]byte(stmt)) + `","payloadType":"application/vnd.in-toto+json",` +
		`"signatures":[{"sig":"` + base64.URLEncoding.EncodeToString(sig) + `"}]}}`
	env, err := parseBundle([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := decodeB64(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeB64(env.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	if !verifySignature(key.Public(), pae(env.PayloadType, payload), s) {
		t.Error("signature over the PAE does not verify")
	}
	if verifySignature(key.Public(), payload, s) {
		t.Error("signature verifies over the bare payload: PAE not used")
	}
	if err := checkStatement(payload, hex); err != nil {
		t.Errorf("checkStatement: %v", err)
	}
	if err := checkStatement(payload, strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "not this image") {
		t.Errorf("checkStatement of another digest = %v", err)
	}
	attest := strings.Replace(stmt, SignPredicateType, "https://slsa.dev/provenance/v1", 1)
	if err := checkStatement([]byte(attest), hex); err == nil || !strings.Contains(err.Error(), "attestation") {
		t.Errorf("checkStatement of an attestation = %v", err)
	}
	for name, bad := range map[string]string{
		"message signature": `{"mediaType":"` + BundleMediaType + `","messageSignature":{}}`,
		"old bundle":        `{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","dsseEnvelope":{}}`,
		"payload type":      `{"mediaType":"` + BundleMediaType + `","dsseEnvelope":{"payloadType":"text/plain"}}`,
	} {
		if _, err := parseBundle([]byte(bad)); err == nil {
			t.Errorf("%s: parseBundle accepted %s", name, bad)
		}
	}
}

// fixtureKey is a P-256 test key (PKCS#8), for fixtures only.
const fixtureKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2
OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r
1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G
-----END PRIVATE KEY-----
`

func FuzzParse(f *testing.F) {
	f.Add([]byte(fixturePayload))
	f.Add([]byte(`{"mediaType":"` + BundleMediaType + `","dsseEnvelope":{"payload":"e30=","payloadType":"` + InTotoPayloadType + `","signatures":[{"sig":"AA=="}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = legacySignedDigest(b)
		if env, err := parseBundle(b); err == nil {
			if p, err := decodeB64(env.Payload); err == nil {
				_ = checkStatement(p, strings.Repeat("a", 64))
			}
		}
		_ = checkStatement(b, strings.Repeat("a", 64))
	})
}
