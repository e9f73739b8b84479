package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/gitfleet/gitfleet/spec"
)

// LayoutVerifier checks images held in an OCI image layout, a USB stick's
// gitfleet/images, with exactly the keys and rules RevisionVerifier uses
// online: the node's own image keys and those the revision names, the
// same signature formats, the same caps. It satisfies
// reconciler.ImageVerifier; the source it returns names the layout, so
// the runtime imports the image from there and from nowhere else.
type LayoutVerifier struct {
	local map[string][]byte
	st    *LayoutStore
}

// NewLayoutVerifier returns a LayoutVerifier trusting local (see
// LoadKeyDir) besides each revision's keys, reading st.
func NewLayoutVerifier(local map[string][]byte, st *LayoutStore) *LayoutVerifier {
	return &LayoutVerifier{local: local, st: st}
}

// VerifyImage accepts ref, pinned by digest, only if at least
// minSignatures distinct trusted keys signed it, as found in the layout.
// registries are not used: nothing is asked of any registry. An image the
// layout does not hold is not refused (the revision may still be applied
// from the network, or from another stick): the error says so and is
// transient.
func (v *LayoutVerifier) VerifyImage(ctx context.Context, ref string, _ []spec.Registry, keys map[string][]byte, minSignatures int) (spec.ImageSource, error) {
	img, err := spec.ParseImageRef(ref)
	if err != nil || img.Digest == "" {
		return spec.ImageSource{}, &RefusedError{Ref: ref, Reason: "not pinned by digest (@sha256:…)"}
	}
	ks, err := revisionKeys(ref, v.local, keys)
	if err != nil {
		return spec.ImageSource{}, err
	}
	res, err := VerifyStore(ctx, v.st, ref, ks, Options{MinSignatures: minSignatures})
	switch {
	case errors.Is(err, ErrNotFound) && !errors.Is(err, ErrRefused):
		return spec.ImageSource{}, fmt.Errorf("image %s is not on the stick (%s): %w", ref, v.st.Dir(), err)
	case err != nil:
		return spec.ImageSource{}, err
	}
	return spec.ImageSource{Image: img, Digest: res.Digest, Layout: v.st.Dir()}, nil
}
