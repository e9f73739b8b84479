package image

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/spec"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// signTarget is the image a signature is written for.
type signTarget struct {
	repo name.Repository
	desc v1.Descriptor // the image manifest
	opts []remote.Option
}

func (t signTarget) hex() string { return t.desc.Digest.Hex }

// target resolves ref for signing, with the credentials of the local
// Docker config (pushing usually needs them).
func target(ctx context.Context, ref string, opts Options) (signTarget, error) {
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		return signTarget{}, err
	}
	// Signatures are written to the image's own registry, never a mirror.
	src := spec.Origin(opts.Registries, img)
	var nopts []name.Option
	if src.PlainHTTP {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(src.Ref(), nopts...)
	if err != nil {
		return signTarget{}, err
	}
	opts.DockerConfig = true
	auth, err := opts.authenticator(r.Context())
	if err != nil {
		return signTarget{}, fmt.Errorf("registry %s: credentials: %w", src.Host, err)
	}
	rt, err := opts.transportFor(src.Host)
	if err != nil {
		return signTarget{}, err
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(rt),
		remote.WithAuth(auth),
	}
	d, err := remote.Head(r, ropts...)
	if err != nil {
		return signTarget{}, unavailable(r.Context().RegistryStr(), err)
	}
	if d.Digest.Algorithm != "sha256" {
		return signTarget{}, fmt.Errorf("digest %s: want sha256", d.Digest)
	}
	if dr, ok := r.(name.Digest); ok && dr.DigestStr() != d.Digest.String() {
		return signTarget{}, fmt.Errorf("registry serves %s for %s", d.Digest, dr.DigestStr())
	}
	return signTarget{repo: r.Context(), desc: *d, opts: ropts}, nil
}

// SignLegacy signs the image ref points at (a tag is resolved once) in
// cosign's legacy format: it adds a simple-signing layer with the signature
// annotation to the manifest tagged sha256-<hex>.sig, creating it if
// needed, as `cosign sign --key` does. Signing twice with one key adds
// nothing.
func SignLegacy(ctx context.Context, ref string, key crypto.Signer, opts Options) error {
	t, err := target(ctx, ref, opts)
	if err != nil {
		return fmt.Errorf("sign image %s: %w", ref, err)
	}
	payload, err := legacyPayload(t.repo.Name(), t.desc.Digest.String(), nil)
	if err != nil {
		return fmt.Errorf("sign image %s: %w", ref, err)
	}
	tag := t.repo.Tag("sha256-" + t.hex() + ".sig")
	base, err := existingSignatures(tag, t.opts)
	if err != nil {
		return fmt.Errorf("sign image %s: %w", ref, err)
	}
	if signedBy(base, payload, key.Public()) {
		return nil
	}
	sig, err := sign(key, payload)
	if err != nil {
		return fmt.Errorf("sign image %s: %w", ref, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(payload, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: b64(sig)},
	})
	if err != nil {
		return fmt.Errorf("sign image %s: %w", ref, err)
	}
	if err := remote.Write(tag, img, t.opts...); err != nil {
		return fmt.Errorf("sign image %s: write %s: %w", ref, tag.TagStr(), unavailable(t.repo.RegistryStr(), err))
	}
	return nil
}

// existingSignatures returns the .sig image to add to, or an empty one
// with OCI media types, as cosign starts it.
func existingSignatures(tag name.Tag, opts []remote.Option) (v1.Image, error) {
	img, err := remote.Image(tag, opts...)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		return mutate.ConfigMediaType(base, types.OCIConfigJSON), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", tag.TagStr(), unavailable(tag.RegistryStr(), err))
	}
	return img, nil
}

// signedBy reports whether img already holds a signature of payload by pub.
func signedBy(img v1.Image, payload []byte, pub crypto.PublicKey) bool {
	m, err := img.Manifest()
	if err != nil {
		return false
	}
	want := sha256Digest(payload)
	for _, l := range m.Layers {
		if l.Digest.String() != want {
			continue
		}
		if sig, err := decodeB64(l.Annotations[SignatureAnnotation]); err == nil && verifySignature(pub, payload, sig) {
			return true
		}
	}
	return false
}

// SignBundle signs the image ref points at in the sigstore bundle format,
// as cosign v3 does: a v0.3 bundle whose DSSE envelope signs an in-toto
// statement (predicate type https://sigstore.dev/cosign/sign/v1) about the
// digest, attached as an OCI 1.1 referrer (subject = the image). On a
// registry without the referrers API the sha256-<hex> fallback tag index
// is updated too.
func SignBundle(ctx context.Context, ref string, key crypto.Signer, opts Options) error {
	return signBundle(ctx, ref, key, opts, SignPredicateType)
}

// signBundle is SignBundle with any predicate type: another one makes an
// attestation, which Verify must not count (tests use it).
func signBundle(ctx context.Context, ref string, key crypto.Signer, opts Options, predicateType string) error {
	t, err := target(ctx, ref, opts)
	if err != nil {
		return fmt.Errorf("sign image %s: %w", ref, err)
	}
	b, err := newBundle(t.repo.Name(), t.hex(), key, predicateType)
	if err != nil {
		return fmt.Errorf("sign image %s: %w", ref, err)
	}
	raw, err := referrerManifest(b, t.desc, predicateType, time.Now())
	if err != nil {
		return fmt.Errorf("sign image %s: %w", ref, err)
	}
	if err := putReferrer(t, raw, static.NewLayer(b, BundleMediaType)); err != nil {
		return fmt.Errorf("sign image %s: %w", ref, unavailable(t.repo.RegistryStr(), err))
	}
	return nil
}

// putReferrer uploads the empty config and the layer, then the manifest by
// digest; go-containerregistry maintains the fallback tag when the
// registry has no referrers API.
func putReferrer(t signTarget, raw []byte, layer v1.Layer) error {
	for _, l := range []v1.Layer{static.NewLayer([]byte("{}"), EmptyConfigMediaType), layer} {
		if err := remote.WriteLayer(t.repo, l, t.opts...); err != nil {
			return err
		}
	}
	return remote.Put(t.repo.Digest(sha256Digest(raw)), rawManifest(raw), t.opts...)
}

// newBundle returns a v0.3 bundle with a DSSE envelope signed by key.
func newBundle(repo, hex string, key crypto.Signer, predicateType string) ([]byte, error) {
	stmt, err := newStatement(repo, hex, predicateType)
	if err != nil {
		return nil, err
	}
	sig, err := sign(key, pae(InTotoPayloadType, stmt))
	if err != nil {
		return nil, err
	}
	hint, err := keyHint(key.Public())
	if err != nil {
		return nil, err
	}
	var bu bundle
	bu.MediaType = BundleMediaType
	bu.VerificationMaterial.PublicKey = &struct {
		Hint string `json:"hint"`
	}{hint}
	bu.DSSEEnvelope = &envelope{
		Payload:     b64(stmt),
		PayloadType: InTotoPayloadType,
		Signatures:  []envelopeSign{{Sig: b64(sig)}},
	}
	return json.Marshal(bu)
}

// ociManifest is an OCI image manifest with the 1.1 fields.
type ociManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// referrerManifest returns the manifest cosign v3 writes for a bundle.
func referrerManifest(b []byte, subject v1.Descriptor, predicateType string, now time.Time) ([]byte, error) {
	emptyDigest, _ := v1.NewHash(sha256Digest([]byte("{}")))
	layerDigest, _ := v1.NewHash(sha256Digest(b))
	sub := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	return json.Marshal(ociManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  BundleMediaType,
		Config:        v1.Descriptor{MediaType: EmptyConfigMediaType, Digest: emptyDigest, Size: 2},
		Layers:        []v1.Descriptor{{MediaType: BundleMediaType, Digest: layerDigest, Size: int64(len(b))}},
		Subject:       &sub,
		Annotations: map[string]string{
			bundleContentAnnotation:   "dsse-envelope",
			BundlePredicateAnnotation: predicateType,
			createdAnnotation:         now.UTC().Format(time.RFC3339),
		},
	})
}

// rawManifest is a manifest to put as it is.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error) { return bytes.Clone(m), nil }

func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
