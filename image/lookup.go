package image

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// lookup finds and checks the image's signatures in both formats. The
// requests go out in rounds, each round's requests concurrently:
//
//  1. the legacy .sig manifest, the referrers API and the fallback tag;
//  2. the legacy payload blobs and the referrer manifests;
//  3. the bundle blobs.
func (v *verification) lookup(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { v.legacy(ctx) })
	wg.Go(func() { v.bundles(ctx) })
	wg.Wait()
}

// hex is the image digest without its algorithm.
func (v *verification) hex() string { return strings.TrimPrefix(v.digest, "sha256:") }

// legacy checks the layers of the sha256-<hex>.sig manifest.
func (v *verification) legacy(ctx context.Context) {
	tag := "sha256-" + v.hex() + ".sig"
	m, ok := v.getManifest(ctx, tag)
	if !ok {
		return
	}
	var wg sync.WaitGroup
	n := 0
	for i, l := range m.Layers {
		what := fmt.Sprintf("legacy %s layer %d", tag, i)
		if l.MediaType != SimpleSigningMediaType {
			v.detail("%s: media type %s, not a signature", what, l.MediaType)
			continue
		}
		sig, ok := l.Annotations[SignatureAnnotation]
		if !ok {
			v.detail("%s: no %s annotation", what, SignatureAnnotation)
			continue
		}
		if n++; n > maxCandidates {
			v.detail("%s: more than %d signatures, rest ignored", tag, maxCandidates)
			break
		}
		wg.Go(func() {
			payload, err := byDigest(ctx, v.st, "blob", l.Digest.String(), l.Size, v.opts.MaxBlobBytes)
			if err != nil {
				v.fail(what, err)
				return
			}
			v.checkLegacy(what, tag, payload, sig)
		})
	}
	wg.Wait()
}

func (v *verification) checkLegacy(what, source string, payload []byte, sigB64 string) {
	sig, err := decodeB64(sigB64)
	if err != nil {
		v.detail("%s: signature annotation: %v", what, err)
		return
	}
	keys := v.keys.verify(payload, sig)
	if len(keys) == 0 {
		v.detail("%s: signature not valid under any trusted key", what)
		return
	}
	signed, err := legacySignedDigest(payload)
	if err != nil {
		v.detail("%s (key %s): %v", what, keys[0].name, err)
		return
	}
	if signed != v.digest {
		v.detail("%s (key %s): payload signs %s, not this image", what, keys[0].name, signed)
		return
	}
	for _, k := range keys {
		v.add(Found{Format: FormatLegacy, KeyName: k.name, Source: source}, k.der)
	}
}

// getManifest fetches an image manifest by tag; false when there is none
// or it could not be read (recorded).
func (v *verification) getManifest(ctx context.Context, tag string) (*v1.Manifest, bool) {
	b, err := v.st.Manifest(ctx, tag, v.opts.MaxManifestBytes)
	if errors.Is(err, ErrNotFound) {
		return nil, false
	}
	if err != nil {
		v.fail(tag, err)
		return nil, false
	}
	var m v1.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		v.detail("%s: %v", tag, err)
		return nil, false
	}
	return &m, true
}

// bundles lists the image's referrers, through the referrers API and the
// fallback tag at once (the union: every entry is checked in full anyway),
// and checks each one.
func (v *verification) bundles(ctx context.Context) {
	var api, tag []v1.Descriptor
	var wg sync.WaitGroup
	wg.Go(func() { api = v.referrersAPI(ctx) })
	wg.Go(func() { tag = v.fallbackTag(ctx) })
	wg.Wait()

	seen := map[v1.Hash]bool{}
	n := 0
	for _, d := range append(api, tag...) {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		if n++; n > maxCandidates {
			v.detail("more than %d referrers, rest ignored", maxCandidates)
			break
		}
		wg.Go(func() { v.referrer(ctx, d) })
	}
	wg.Wait()
}

// referrersAPI lists the image's referrers as the store keeps them.
func (v *verification) referrersAPI(ctx context.Context) []v1.Descriptor {
	ds, err := v.st.Referrers(ctx, v.digest, v.opts.MaxManifestBytes)
	if err != nil {
		v.fail("referrers API", err)
	}
	return ds
}

// fallbackTag reads the image index tagged sha256-<hex>, where registries
// without the referrers API list them; none when there is no such tag.
func (v *verification) fallbackTag(ctx context.Context) []v1.Descriptor {
	what := "fallback tag sha256-" + v.hex()
	b, err := v.st.Manifest(ctx, "sha256-"+v.hex(), v.opts.MaxManifestBytes)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		v.fail(what, err)
		return nil
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		v.detail("%s: %v", what, err)
		return nil
	}
	return idx.Manifests
}

// referrer fetches a referrer manifest (whatever its index entry claims)
// and checks its bundle layers.
func (v *verification) referrer(ctx context.Context, d v1.Descriptor) {
	what := "referrer " + d.Digest.String()
	body, err := byDigest(ctx, v.st, "manifest", d.Digest.String(), d.Size, v.opts.MaxManifestBytes)
	if err != nil {
		v.fail(what, err)
		return
	}
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		v.detail("%s: %v", what, err)
		return
	}
	if m.Subject == nil || m.Subject.Digest.String() != v.digest {
		subject := "none"
		if m.Subject != nil {
			subject = m.Subject.Digest.String()
		}
		v.detail("%s: subject %s, not this image", what, subject)
		return
	}
	var wg sync.WaitGroup
	n := 0
	for _, l := range m.Layers {
		if l.MediaType != BundleMediaType {
			continue
		}
		if n++; n > maxCandidates {
			break
		}
		wg.Go(func() {
			b, err := byDigest(ctx, v.st, "blob", l.Digest.String(), l.Size, v.opts.MaxBlobBytes)
			if err != nil {
				v.fail(what, err)
				return
			}
			v.checkBundle(what, d.Digest.String(), b)
		})
	}
	wg.Wait()
	if n == 0 {
		v.detail("%s: not a sigstore bundle (artifactType %q)", what, cmp.Or(m.ArtifactType, string(m.Config.MediaType)))
	}
}

func (v *verification) checkBundle(what, source string, b []byte) {
	env, err := parseBundle(b)
	if err != nil {
		v.detail("%s: %v", what, err)
		return
	}
	payload, err := decodeB64(env.Payload)
	if err != nil {
		v.detail("%s: DSSE payload: %v", what, err)
		return
	}
	msg := pae(env.PayloadType, payload)
	var keys []namedKey
	for _, s := range env.Signatures {
		sig, err := decodeB64(s.Sig)
		if err != nil {
			continue
		}
		for _, k := range v.keys.verify(msg, sig) {
			if !slices.ContainsFunc(keys, func(x namedKey) bool { return x.name == k.name }) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		v.detail("%s: DSSE signature not valid under any trusted key", what)
		return
	}
	if err := checkStatement(payload, v.hex()); err != nil {
		v.detail("%s (key %s): %v", what, keys[0].name, err)
		return
	}
	for _, k := range keys {
		v.add(Found{Format: FormatBundle, KeyName: k.name, Source: source}, k.der)
	}
}

func sortFound(fs []Found) {
	slices.SortFunc(fs, func(a, b Found) int {
		return cmp.Or(cmp.Compare(a.KeyName, b.KeyName), cmp.Compare(a.Format, b.Format), cmp.Compare(a.Source, b.Source))
	})
}

func sortStrings(s []string) { slices.Sort(s) }
