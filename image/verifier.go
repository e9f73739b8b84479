package image

import (
	"context"

	"github.com/gitfleet/gitfleet/spec"
)

// Verifier checks images against a fixed set of trusted keys, reusing one
// HTTP transport across calls.
type Verifier struct {
	keys *KeySet
	opts Options
}

// NewVerifier returns a Verifier for keys. opts.Registries is replaced by
// the registries each call passes; one transport is shared by all calls
// unless opts.Transport is set.
func NewVerifier(keys *KeySet, opts Options) *Verifier {
	if opts.Transport == nil && opts.Credentials == nil {
		opts.Transport = defaultTransport()
	}
	return &Verifier{keys: keys, opts: opts}
}

// VerifyImage accepts ref only if Verify does and returns the source the
// image was verified at, to pull exactly from there. ref must be pinned by
// digest (fleet specs are), so that what was verified is what is pulled;
// a ref with only a tag is refused.
func (v *Verifier) VerifyImage(ctx context.Context, ref string, registries []spec.Registry) (spec.ImageSource, error) {
	if img, err := spec.ParseImageRef(ref); err != nil || img.Digest == "" {
		return spec.ImageSource{}, &RefusedError{Ref: ref, Keys: v.keys.Names(), Reason: "not pinned by digest (@sha256:…)"}
	}
	res, err := v.Verify(ctx, ref, registries)
	if err != nil {
		return spec.ImageSource{}, err
	}
	return res.Source, nil
}

// Verify is VerifyImage with the Result.
func (v *Verifier) Verify(ctx context.Context, ref string, registries []spec.Registry) (*Result, error) {
	opts := v.opts
	opts.Registries = registries
	return Verify(ctx, ref, v.keys, opts)
}
