package image

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Media types, annotations and tags of the two cosign formats.
const (
	// Legacy format.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	SignatureAnnotation    = "dev.cosignproject.cosign/signature"
	simpleSigningType      = "cosign container image signature"

	// Sigstore bundle format.
	BundleMediaType           = "application/vnd.dev.sigstore.bundle.v0.3+json"
	bundleMediaTypeAlt        = "application/vnd.dev.sigstore.bundle+json;version=0.3"
	BundlePredicateAnnotation = "dev.sigstore.bundle.predicateType"
	bundleContentAnnotation   = "dev.sigstore.bundle.content"
	createdAnnotation         = "org.opencontainers.image.created"
	EmptyConfigMediaType      = "application/vnd.oci.empty.v1+json"
	InTotoPayloadType         = "application/vnd.in-toto+json"
	// SignPredicateType is the only in-toto predicate type that counts as a
	// signature. Any other (SLSA provenance, SBOM, …) is an attestation.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	inTotoStatementV1 = "https://in-toto.io/Statement/v1"
	inTotoStatementV0 = "https://in-toto.io/Statement/v0.1"
)

// Format names a signature format in a Result.
type Format string

// The formats Verify reads.
const (
	FormatLegacy Format = "legacy"
	FormatBundle Format = "bundle"
)

// simpleSigning is cosign's legacy payload. Field order and types make
// json.Marshal write exactly what cosign writes:
//
//	{"critical":{"identity":{"docker-reference":"<repo>"},"image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},"optional":null}
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// legacyPayload returns the simple-signing payload cosign signs for the
// image digest in repository repo, with optional annotations (nil gives
// "optional":null).
func legacyPayload(repo, digest string, optional map[string]any) ([]byte, error) {
	var p simpleSigning
	p.Critical.Identity.DockerReference = repo
	p.Critical.Image.DockerManifestDigest = digest
	p.Critical.Type = simpleSigningType
	p.Optional = optional
	return json.Marshal(p)
}

// legacySignedDigest parses a simple-signing payload and returns the digest
// it signs.
func legacySignedDigest(payload []byte) (string, error) {
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	if p.Critical.Type != simpleSigningType {
		return "", fmt.Errorf("payload type %q, want %q", p.Critical.Type, simpleSigningType)
	}
	if p.Critical.Image.DockerManifestDigest == "" {
		return "", errors.New("payload names no docker-manifest-digest")
	}
	return p.Critical.Image.DockerManifestDigest, nil
}

// pae is DSSE's pre-authentication encoding, the bytes a DSSE signature
// covers: "DSSEv1" SP len(type) SP type SP len(payload) SP payload.
func pae(payloadType string, payload []byte) []byte {
	b := fmt.Appendf(nil, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	return append(b, payload...)
}

// bundle is the part of a sigstore bundle (protobuf-specs JSON) that a
// key-based check needs.
type bundle struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial struct {
		PublicKey *struct {
			Hint string `json:"hint"`
		} `json:"publicKey,omitempty"`
		TlogEntries []json.RawMessage `json:"tlogEntries,omitempty"`
	} `json:"verificationMaterial"`
	DSSEEnvelope     *envelope       `json:"dsseEnvelope,omitempty"`
	MessageSignature json.RawMessage `json:"messageSignature,omitempty"`
}

// envelope is a DSSE envelope. Payload and signatures are base64 strings;
// protobuf JSON allows both the standard and the URL-safe alphabet.
type envelope struct {
	Payload     string         `json:"payload"`
	PayloadType string         `json:"payloadType"`
	Signatures  []envelopeSign `json:"signatures"`
}

type envelopeSign struct {
	Sig   string `json:"sig"`
	KeyID string `json:"keyid,omitempty"`
}

// statement is an in-toto statement.
type statement struct {
	Type          string             `json:"_type"`
	Subject       []statementSubject `json:"subject"`
	PredicateType string             `json:"predicateType"`
	Predicate     json.RawMessage    `json:"predicate"`
}

type statementSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// parseBundle reads a v0.3 bundle and returns its DSSE envelope.
func parseBundle(b []byte) (*envelope, error) {
	var bu bundle
	if err := json.Unmarshal(b, &bu); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if bu.MediaType != BundleMediaType && bu.MediaType != bundleMediaTypeAlt {
		return nil, fmt.Errorf("bundle media type %q, want %s", bu.MediaType, BundleMediaType)
	}
	if bu.DSSEEnvelope == nil {
		return nil, errors.New("bundle holds no DSSE envelope")
	}
	if bu.DSSEEnvelope.PayloadType != InTotoPayloadType {
		return nil, fmt.Errorf("DSSE payload type %q, want %s", bu.DSSEEnvelope.PayloadType, InTotoPayloadType)
	}
	return bu.DSSEEnvelope, nil
}

// checkStatement checks that an in-toto statement is a cosign signature
// of the image whose sha256 digest is hex.
func checkStatement(payload []byte, hex string) error {
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return fmt.Errorf("in-toto statement: %w", err)
	}
	if st.Type != inTotoStatementV1 && st.Type != inTotoStatementV0 {
		return fmt.Errorf("in-toto statement type %q", st.Type)
	}
	if st.PredicateType != SignPredicateType {
		return fmt.Errorf("predicate type %q is an attestation, not a signature (want %s)", st.PredicateType, SignPredicateType)
	}
	var signed []string
	for _, s := range st.Subject {
		if d := s.Digest["sha256"]; d != "" {
			if d == hex {
				return nil
			}
			signed = append(signed, "sha256:"+d)
		}
	}
	if len(signed) == 0 {
		return errors.New("in-toto statement names no sha256 subject")
	}
	return fmt.Errorf("statement signs %s, not this image", strings.Join(signed, ", "))
}

// decodeB64 reads standard or URL-safe base64, padded or not.
func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("invalid base64")
}

// newStatement returns the in-toto statement cosign signs for an image.
func newStatement(repo, hex, predicateType string) ([]byte, error) {
	return json.Marshal(statement{
		Type:          inTotoStatementV1,
		Subject:       []statementSubject{{Name: repo, Digest: map[string]string{"sha256": hex}}},
		PredicateType: predicateType,
		Predicate:     json.RawMessage(`{}`),
	})
}
