package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/gitfleet/gitfleet/spec"
)

// Store holds one repository's manifests and blobs. A registry, or one of
// its mirrors, reached over HTTP is one kind (dialed by Sources' order); an
// OCI image layout, as on a USB stick, can be another. Verification,
// resolution and layer sizing read through this interface only and check
// what they read themselves (size caps, digests, subjects), so a Store
// need not be trusted: it only finds bytes.
type Store interface {
	// Manifest returns the manifest or index that ref names: a tag (such
	// as the sha256-<hex>.sig signature tag) or a "sha256:…" digest. It
	// reads at most limit bytes (errTooLarge past it) and returns an error
	// matching ErrNotFound when there is none.
	Manifest(ctx context.Context, ref string, limit int64) ([]byte, error)
	// Referrers lists the manifests whose subject is the manifest with
	// digest dgst, as the OCI 1.1 referrers API does; none, and no error,
	// when the store keeps no such list (the fallback tag sha256-<hex> is
	// read through Manifest). The list may include anything: each entry is
	// fetched and checked.
	Referrers(ctx context.Context, dgst string, limit int64) ([]v1.Descriptor, error)
	// Blob returns the blob with digest dgst, reading at most limit bytes
	// (errTooLarge past it), or an error matching ErrNotFound.
	Blob(ctx context.Context, dgst string, limit int64) ([]byte, error)
}

// ErrNotFound matches (errors.Is) a manifest, tag or blob a Store does not
// hold.
var ErrNotFound = errors.New("not found")

// readCapped reads r to its end, at most limit bytes; size is what the
// store announced (-1 when unknown). More is errTooLarge. Stores use it so
// that no manifest or signature read can exhaust memory.
func readCapped(r io.Reader, size, limit int64) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%d bytes, %w of %d", size, errTooLarge, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes, %w", limit, errTooLarge)
	}
	return b, nil
}

// byDigest reads a manifest or blob addressed by dgst from st and checks
// that the bytes have that digest (and size, when size >= 0).
func byDigest(ctx context.Context, st Store, kind, dgst string, size, limit int64) ([]byte, error) {
	if !spec.IsSHA256Digest(dgst) {
		return nil, fmt.Errorf("%s digest %q: want sha256:<64 hex>", kind, dgst)
	}
	if size > limit {
		return nil, fmt.Errorf("%s %s: %d bytes, %w of %d", kind, dgst, size, errTooLarge, limit)
	}
	if size >= 0 {
		limit = size
	}
	var b []byte
	var err error
	if kind == "blob" {
		b, err = st.Blob(ctx, dgst, limit)
	} else {
		b, err = st.Manifest(ctx, dgst, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, dgst, err)
	}
	if got := sha256Digest(b); got != dgst || (size >= 0 && int64(len(b)) != size) {
		return nil, fmt.Errorf("%s %s: %w: served %d bytes with digest %s", kind, dgst, errBadContent, len(b), got)
	}
	return b, nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
