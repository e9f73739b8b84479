package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/gitfleet/gitfleet/spec"
)

// located is an image found at one source: the store there, the source
// with the image's digest, and the manifest (or index) bytes.
type located struct {
	st       Store
	src      spec.ImageSource
	manifest []byte
}

// locate finds img at the first source that holds it, in the order
// spec.Sources gives (mirrors, then the registry). A source that cannot be
// reached, or does not hold the image, passes to the next; one that serves
// something wrong (another digest, an oversized manifest) stops the search
// with that error, which is a refusal, never hidden by another source.
func locate(ctx context.Context, img spec.ImageRef, opts Options) (*located, error) {
	opts = opts.withDefaults()
	var errs []error
	for _, src := range spec.Sources(opts.Registries, img) {
		st, err := dial(ctx, src, opts) // its errors name the host
		if err == nil {
			var m []byte
			if m, err = imageManifest(ctx, st, img, opts.MaxManifestBytes); err == nil {
				src.Digest = sha256Digest(m)
				return &located{st: st, src: src, manifest: m}, nil
			}
			if errors.Is(err, errTooLarge) || errors.Is(err, errBadContent) {
				return nil, err
			}
			err = fmt.Errorf("%s: %w", src, err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, joinErrors(errs)
}

// imageManifest reads the manifest or index img names from st: by digest
// (checked), else by tag ("latest" when there is none).
func imageManifest(ctx context.Context, st Store, img spec.ImageRef, limit int64) ([]byte, error) {
	if img.Digest != "" {
		m, err := st.Manifest(ctx, img.Digest, limit)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", img.Digest, err)
		}
		if got := sha256Digest(m); got != img.Digest {
			return nil, fmt.Errorf("%w: %s serves a manifest with digest %s for %s", errBadContent, storeKind(st), got, img.Digest)
		}
		return m, nil
	}
	tag := img.Tag
	if tag == "" {
		tag = "latest"
	}
	m, err := st.Manifest(ctx, tag, limit)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", tag, err)
	}
	return m, nil
}

// Resolve finds ref at its first source that holds it, as Verify does,
// and returns that source with the image's digest: what a tag points at
// there (for fleetctl pin), or where an image is pulled from when
// signatures are not checked. Nothing is verified.
func Resolve(ctx context.Context, ref string, opts Options) (spec.ImageSource, error) {
	if err := opts.Validate(); err != nil {
		return spec.ImageSource{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		return spec.ImageSource{}, err
	}
	loc, err := locate(ctx, img, opts)
	if err != nil {
		return spec.ImageSource{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	return loc.src, nil
}

// storeKind names st in messages.
func storeKind(st Store) string {
	if _, ok := st.(*registry); ok {
		return "registry"
	}
	return "store"
}
