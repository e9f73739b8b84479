package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/gitfleet/gitfleet/spec"
)

// RefNameAnnotation names a manifest in an OCI image layout's index.json:
// an image's reference, or a signature's tag (sha256-<hex>.sig).
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// maxIndexBytes caps a layout's index.json.
const maxIndexBytes = 16 << 20

// LayoutStore is the Store of an OCI image layout on a medium this node
// does not trust, such as a USB stick's gitfleet/images: tags are the
// index.json entries named by RefNameAnnotation (an image's reference, a
// legacy signature's sha256-<hex>.sig), referrers are the entries whose
// manifest has the image as subject. Every read stays inside the layout
// (no symbolic link is followed, none may lead out of it) and is capped,
// like a registry's. One layout holds images of many repositories: a
// signature tag names its image's digest, so it cannot be mistaken for
// another image's.
type LayoutStore struct {
	dir     string
	root    *os.Root
	entries []v1.Descriptor
}

var _ Store = (*LayoutStore)(nil)

// OpenLayout opens the layout in dir and reads its index.json.
func OpenLayout(dir string) (*LayoutStore, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("oci layout: %w", err)
	}
	s := &LayoutStore{dir: dir, root: root}
	b, err := s.read("index.json", maxIndexBytes)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("oci layout %s: %w", dir, err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		root.Close()
		return nil, fmt.Errorf("oci layout %s: index.json: %w", dir, err)
	}
	s.entries = idx.Manifests
	return s, nil
}

// Close releases the layout.
func (s *LayoutStore) Close() error { return s.root.Close() }

// Dir is the layout's folder.
func (s *LayoutStore) Dir() string { return s.dir }

// Manifest implements Store: ref is a digest, or a name index.json gives.
func (s *LayoutStore) Manifest(ctx context.Context, ref string, limit int64) ([]byte, error) {
	if spec.IsSHA256Digest(ref) {
		return s.Blob(ctx, ref, limit)
	}
	for _, d := range s.entries {
		if d.Annotations[RefNameAnnotation] == ref {
			return s.Blob(ctx, d.Digest.String(), limit)
		}
	}
	return nil, fmt.Errorf("%s: %w in %s", ref, ErrNotFound, s.dir)
}

// Referrers implements Store: the index.json entries that are manifests
// with dgst as their subject. An entry's manifest that cannot be read is
// skipped: verification reports no signature rather than a store error.
func (s *LayoutStore) Referrers(ctx context.Context, dgst string, limit int64) ([]v1.Descriptor, error) {
	var out []v1.Descriptor
	for _, d := range s.entries {
		if !d.MediaType.IsImage() || d.Size > limit || d.Annotations[RefNameAnnotation] != "" {
			continue
		}
		b, err := s.Blob(ctx, d.Digest.String(), limit)
		if err != nil {
			continue
		}
		var m v1.Manifest
		if json.Unmarshal(b, &m) == nil && m.Subject != nil && m.Subject.Digest.String() == dgst {
			out = append(out, d)
		}
	}
	return out, nil
}

// Blob implements Store.
func (s *LayoutStore) Blob(_ context.Context, dgst string, limit int64) ([]byte, error) {
	if !spec.IsSHA256Digest(dgst) {
		return nil, fmt.Errorf("blob digest %q: want sha256:<64 hex>", dgst)
	}
	b, err := s.read(layoutBlobPath(dgst), limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w in %s", dgst, ErrNotFound, s.dir)
	}
	return b, err
}

func layoutBlobPath(dgst string) string { return "blobs/sha256/" + strings.TrimPrefix(dgst, "sha256:") }

// errLink is a symbolic link found in a layout.
var errLink = errors.New("is a symbolic link (a layout on a stick must hold none)")

// read reads a file of the layout, capped, refusing symbolic links on its
// way (os.Root also keeps any from leading out of the layout).
func (s *LayoutStore) read(name string, limit int64) ([]byte, error) {
	p := ""
	for _, part := range strings.Split(name, "/") {
		p = path.Join(p, part)
		fi, err := s.root.Lstat(p)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: %s %w", errBadContent, p, errLink)
		}
	}
	f, err := s.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return readCapped(f, fi.Size(), limit)
}
