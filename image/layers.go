package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/spec"
)

// DefaultPlatform is the platform a Sizer picks from a multi-platform
// image index when none is given.
const DefaultPlatform = "linux/amd64"

// Layer is one layer of an image manifest: what a node downloads.
type Layer struct {
	Digest string
	Size   int64 // compressed, as the manifest says
}

// Sizer reads the layers of images for plans: manifests only, never a
// layer, found at the same source a verification and a pull would use. A
// registry that cannot be reached is asked once: later images on it fail
// at once with the first error. It is safe for concurrent use.
type Sizer struct {
	opts     Options
	platform v1.Platform
	timeout  time.Duration

	mu   sync.Mutex
	down map[string]error // image registry host → why it is unreachable
}

// NewSizer returns a Sizer that reads through opts (credentials,
// transport) and picks platform ("os/arch[/variant]";
// DefaultPlatform when empty) from image indexes.
func NewSizer(opts Options, platform string) (*Sizer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if platform == "" {
		platform = DefaultPlatform
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", platform, err)
	}
	if opts.Transport == nil {
		opts.Transport = defaultTransport()
	}
	return &Sizer{opts: opts.withDefaults(), platform: *p, timeout: 20 * time.Second, down: map[string]error{}}, nil
}

// Layers returns the layers of ref for the Sizer's platform, read at the
// first source registries send it to (opts.Registries is not used).
func (s *Sizer) Layers(ctx context.Context, ref string, registries []spec.Registry) ([]Layer, error) {
	img, err := spec.ParseImageRef(ref)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	down := s.down[img.Host]
	s.mu.Unlock()
	if down != nil {
		return nil, down
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	opts := s.opts
	opts.Registries = registries
	loc, err := locate(ctx, img, opts)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			s.mu.Lock()
			if s.down[img.Host] == nil {
				s.down[img.Host] = err
			}
			s.mu.Unlock()
		}
		return nil, err
	}
	return s.layers(ctx, loc)
}

// layers reads the layers of a located image, through the platform's
// entry when it is an index.
func (s *Sizer) layers(ctx context.Context, loc *located) ([]Layer, error) {
	m := loc.manifest
	if mt, err := mediaType(m); err == nil && mt.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(m))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", loc.src, err)
		}
		var child *v1.Descriptor
		for i, d := range idx.Manifests {
			if d.Platform != nil && d.Platform.Satisfies(s.platform) {
				child = &idx.Manifests[i]
				break
			}
		}
		if child == nil {
			return nil, fmt.Errorf("index %s has no image for %s", loc.src, s.platform)
		}
		if m, err = byDigest(ctx, loc.st, "manifest", child.Digest.String(), child.Size, s.opts.MaxManifestBytes); err != nil {
			return nil, fmt.Errorf("%s: %w", loc.src, err)
		}
	}
	man, err := v1.ParseManifest(bytes.NewReader(m))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", loc.src, err)
	}
	out := make([]Layer, len(man.Layers))
	for i, l := range man.Layers {
		out[i] = Layer{Digest: l.Digest.String(), Size: l.Size}
	}
	return out, nil
}

// mediaType reads a manifest's media type; an index that leaves it out is
// told by its manifests field.
func mediaType(b []byte) (types.MediaType, error) {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return "", err
	}
	if probe.MediaType == "" && probe.Manifests != nil {
		return types.OCIImageIndex, nil
	}
	return probe.MediaType, nil
}
