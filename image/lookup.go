package image

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
			payload, err := v.c.getByDigest(ctx, "blob", l.Digest.String(), l.Size, nil, v.c.opts.MaxBlobBytes)
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
	resp, err := v.c.get(ctx, "/manifests/"+tag, manifestTypes, v.c.opts.MaxManifestBytes)
	if err != nil {
		v.fail(tag, err)
		return nil, false
	}
	switch resp.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, false
	default:
		v.failStatus(tag, resp.status)
		return nil, false
	}
	var m v1.Manifest
	if err := json.Unmarshal(resp.body, &m); err != nil {
		v.detail("%s: %v", tag, err)
		return nil, false
	}
	return &m, true
}

// failStatus records an unexpected answer (401, 403…): not a refusal of
// the image, not a network failure either.
func (v *verification) failStatus(what string, status int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = append(v.errs, fmt.Errorf("%s: registry answered %d %s", what, status, http.StatusText(status)))
}

// bundles lists the image's referrers, through the referrers API and the
// fallback tag at once (the union: every entry is checked in full anyway),
// and checks each one.
func (v *verification) bundles(ctx context.Context) {
	var api, tag []v1.Descriptor
	var wg sync.WaitGroup
	wg.Go(func() { api = v.getIndex(ctx, "/referrers/"+v.digest, "referrers API") })
	wg.Go(func() { tag = v.getIndex(ctx, "/manifests/sha256-"+v.hex(), "fallback tag sha256-"+v.hex()) })
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

// getIndex reads an image index; a registry without the referrers API, or
// without the fallback tag, gives none.
func (v *verification) getIndex(ctx context.Context, path, what string) []v1.Descriptor {
	resp, err := v.c.get(ctx, path, indexTypes, v.c.opts.MaxManifestBytes)
	if err != nil {
		v.fail(what, err)
		return nil
	}
	switch resp.status {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusBadRequest, http.StatusMethodNotAllowed:
		// distribution 2.8 answers 404 for /referrers/: no API.
		return nil
	default:
		v.failStatus(what, resp.status)
		return nil
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(resp.body, &idx); err != nil {
		v.detail("%s: %v", what, err)
		return nil
	}
	return idx.Manifests
}

// referrer fetches a referrer manifest (whatever its index entry claims)
// and checks its bundle layers.
func (v *verification) referrer(ctx context.Context, d v1.Descriptor) {
	what := "referrer " + d.Digest.String()
	body, err := v.c.getByDigest(ctx, "manifest", d.Digest.String(), d.Size, manifestTypes, v.c.opts.MaxManifestBytes)
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
			b, err := v.c.getByDigest(ctx, "blob", l.Digest.String(), l.Size, nil, v.c.opts.MaxBlobBytes)
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
