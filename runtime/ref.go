package runtime

import (
	"fmt"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// pinned normalizes ref to the name@digest form under which its image is
// stored, or refuses it when it is not pinned by a sha256 digest. A tag next
// to the digest is dropped: the digest decides what runs.
func pinned(ref string) (name string, dgst digest.Digest, err error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", fmt.Errorf("image %q: %w", ref, err)
	}
	canonical, ok := named.(reference.Canonical)
	if !ok {
		return "", "", fmt.Errorf("image %s: not pinned by digest (@sha256:…)", ref)
	}
	dgst = canonical.Digest()
	if dgst.Algorithm() != digest.SHA256 {
		return "", "", fmt.Errorf("image %s: digest algorithm %s, want sha256", ref, dgst.Algorithm())
	}
	if err := dgst.Validate(); err != nil {
		return "", "", fmt.Errorf("image %s: %w", ref, err)
	}
	return reference.TrimNamed(named).String() + "@" + dgst.String(), dgst, nil
}
