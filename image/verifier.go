package image

import (
	"context"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"

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
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Verifier{keys: keys, opts: opts}
}

// VerifyImage accepts ref only if Verify does. ref must be pinned by
// digest (fleet specs are), so that what was verified is what is pulled; a
// ref with only a tag is refused.
func (v *Verifier) VerifyImage(ctx context.Context, ref string, registries []spec.Registry) error {
	if _, err := name.NewDigest(ref); err != nil {
		return &RefusedError{Ref: ref, Keys: v.keys.Names(), Reason: "not pinned by digest (@sha256:…)"}
	}
	_, err := v.Verify(ctx, ref, registries)
	return err
}

// Verify is VerifyImage with the Result.
func (v *Verifier) Verify(ctx context.Context, ref string, registries []spec.Registry) (*Result, error) {
	opts := v.opts
	opts.Registries = registries
	return Verify(ctx, ref, v.keys, opts)
}
