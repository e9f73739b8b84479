package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/gitfleet/gitfleet/spec"
)

// ExportPlan is what one image and its signatures put into an OCI image
// layout: its manifests (read, small), the blobs they name (streamed from
// the registry when written), and the layout's index.json entries.
type ExportPlan struct {
	// Ref is the image as the fleet names it; Digest its manifest's digest.
	Ref    string
	Digest string
	// Source is where it was read (a mirror or the registry).
	Source spec.ImageSource
	// Signatures are the digests of its signature manifests: the legacy
	// sha256-<hex>.sig manifest and the sigstore bundle referrers.
	Signatures []string
	// Blobs are the configs, layers and signature payloads, each once.
	Blobs []v1.Descriptor

	manifests []planned
	st        *registry
}

// planned is one manifest or index and, when it is listed in index.json,
// its entry there.
type planned struct {
	raw   []byte
	entry *v1.Descriptor
}

// Size is the bytes the plan writes, blobs skip says are not written
// left out.
func (p *ExportPlan) Size(skip func(dgst string) bool) int64 {
	var n int64
	for _, b := range p.Blobs {
		if skip == nil || !skip(b.Digest.String()) {
			n += b.Size
		}
	}
	for _, m := range p.manifests {
		n += int64(len(m.raw))
	}
	return n
}

// PlanExport reads the manifests of ref (every platform of an index), of
// its legacy signature (the sha256-<hex>.sig tag) and of its sigstore
// bundle referrers (referrers API and fallback tag), at the first source
// opts.Registries sends it to, as Verify would. Nothing is verified: the
// node verifies what it reads from the layout. Image blobs are not read.
func PlanExport(ctx context.Context, ref string, opts Options) (*ExportPlan, error) {
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	loc, err := locate(ctx, img, opts)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", ref, err)
	}
	reg, ok := loc.st.(*registry)
	if !ok {
		return nil, fmt.Errorf("export %s: %s is not a registry", ref, loc.src)
	}
	p := &ExportPlan{Ref: ref, Digest: loc.src.Digest, Source: loc.src, st: reg}
	seen := map[string]bool{}
	limit := opts.MaxManifestBytes
	if err := p.addTree(ctx, loc.manifest, &v1.Descriptor{Annotations: map[string]string{RefNameAnnotation: img.String()}}, seen, limit); err != nil {
		return nil, fmt.Errorf("export %s: %w", ref, err)
	}
	hex := strings.TrimPrefix(p.Digest, "sha256:")
	sigTag := "sha256-" + hex + ".sig"
	raw, err := reg.Manifest(ctx, sigTag, limit)
	switch {
	case err == nil:
		entry := &v1.Descriptor{Annotations: map[string]string{RefNameAnnotation: sigTag}}
		if err := p.addTree(ctx, raw, entry, seen, limit); err != nil {
			return nil, fmt.Errorf("export %s: %s: %w", ref, sigTag, err)
		}
		p.Signatures = append(p.Signatures, sha256Digest(raw))
	case !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("export %s: %s: %w", ref, sigTag, err)
	}
	refs, err := reg.Referrers(ctx, p.Digest, limit)
	if err != nil {
		return nil, fmt.Errorf("export %s: referrers: %w", ref, err)
	}
	if raw, err := reg.Manifest(ctx, "sha256-"+hex, limit); err == nil {
		if idx, err := v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil {
			refs = append(refs, idx.Manifests...)
		}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("export %s: fallback tag: %w", ref, err)
	}
	for _, d := range refs {
		if seen[d.Digest.String()] {
			continue
		}
		raw, err := byDigest(ctx, reg, "manifest", d.Digest.String(), d.Size, limit)
		if err != nil {
			return nil, fmt.Errorf("export %s: referrer: %w", ref, err)
		}
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil || m.Subject == nil || m.Subject.Digest.String() != p.Digest {
			continue // not a referrer of this image
		}
		if err := p.addTree(ctx, raw, &v1.Descriptor{ArtifactType: d.ArtifactType}, seen, limit); err != nil {
			return nil, fmt.Errorf("export %s: referrer: %w", ref, err)
		}
		p.Signatures = append(p.Signatures, sha256Digest(raw))
	}
	return p, nil
}

// addTree adds a manifest or index (raw) and what it names: the manifests
// of an index, the config and layers of a manifest. entry, when set, is
// its index.json entry (filled in here).
func (p *ExportPlan) addTree(ctx context.Context, raw []byte, entry *v1.Descriptor, seen map[string]bool, limit int64) error {
	mt, err := mediaType(raw)
	if err != nil {
		return err
	}
	dgst := sha256Digest(raw)
	if entry != nil {
		h, _ := v1.NewHash(dgst)
		entry.MediaType, entry.Digest, entry.Size = mt, h, int64(len(raw))
	}
	p.manifests = append(p.manifests, planned{raw: raw, entry: entry})
	seen[dgst] = true
	if mt.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		for _, d := range idx.Manifests {
			if seen[d.Digest.String()] {
				continue
			}
			child, err := byDigest(ctx, p.st, "manifest", d.Digest.String(), d.Size, limit)
			if err != nil {
				return err
			}
			if err := p.addTree(ctx, child, nil, seen, limit); err != nil {
				return err
			}
		}
		return nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if d.Digest.Hex == "" || seen[d.Digest.String()] {
			continue
		}
		if d.Digest.Algorithm != "sha256" {
			return fmt.Errorf("blob %s: only sha256 digests are exported", d.Digest)
		}
		seen[d.Digest.String()] = true
		p.Blobs = append(p.Blobs, d)
	}
	return nil
}

// openBlob streams a blob from the registry.
func (r *registry) openBlob(ctx context.Context, dgst string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/blobs/"+dgst, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp.Body, nil
	case resp.StatusCode == http.StatusNotFound:
		err = fmt.Errorf("blob %s: %w", dgst, ErrNotFound)
	case isUnavailable(resp.StatusCode):
		err = &UnavailableError{Host: r.src.Host, Status: resp.StatusCode}
	default:
		err = &statusError{host: r.src.Host, status: resp.StatusCode}
	}
	drain(resp.Body)
	resp.Body.Close()
	return nil, err
}

// LayoutBlob is one blob file of a layout.
type LayoutBlob struct {
	Digest string
	Size   int64
}

// Written lists the blob files the plan puts in a layout (manifests
// included), but those skip names.
func (p *ExportPlan) Written(skip func(dgst string) bool) []LayoutBlob {
	var out []LayoutBlob
	for _, b := range p.Blobs {
		if skip == nil || !skip(b.Digest.String()) {
			out = append(out, LayoutBlob{Digest: b.Digest.String(), Size: b.Size})
		}
	}
	for _, m := range p.manifests {
		out = append(out, LayoutBlob{Digest: sha256Digest(m.raw), Size: int64(len(m.raw))})
	}
	return out
}
