package review

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/gitfleet/gitfleet/spec"
)

// DefaultPlatform is the platform NewRegistry picks from a multi-platform
// image index when none is given.
const DefaultPlatform = "linux/amd64"

// Registry reads image manifests with go-containerregistry: no layer is
// downloaded. A registry that cannot be reached is asked once: later
// images on it fail at once with the first error. It is safe for
// concurrent use.
type Registry struct {
	registries []spec.Registry
	platform   v1.Platform
	transport  http.RoundTripper
	timeout    time.Duration

	mu   sync.Mutex
	down map[string]error // registry host → why it is unreachable
}

// NewRegistry returns a Registry that reaches the hosts of registries
// (fleet.yaml's spec.registries) over plain HTTP where they say so and
// picks platform ("os/arch[/variant]"; DefaultPlatform when empty) from
// image indexes. Credentials come from the Docker config, as docker login
// writes them.
func NewRegistry(registries []spec.Registry, platform string) (*Registry, error) {
	if platform == "" {
		platform = DefaultPlatform
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", platform, err)
	}
	return &Registry{
		registries: registries,
		platform:   *p,
		transport:  http.DefaultTransport.(*http.Transport).Clone(),
		timeout:    20 * time.Second,
		down:       map[string]error{},
	}, nil
}

// Layers returns the layers of ref for the Registry's platform.
func (r *Registry) Layers(ctx context.Context, ref string) ([]Layer, error) {
	var opts []name.Option
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	host := parsed.Context().RegistryStr()
	for _, reg := range r.registries {
		if reg.Host == host && reg.PlainHTTP {
			opts = append(opts, name.Insecure)
		}
	}
	if parsed, err = name.ParseReference(ref, opts...); err != nil {
		return nil, err
	}
	r.mu.Lock()
	down := r.down[host]
	r.mu.Unlock()
	if down != nil {
		return nil, down
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(r.transport),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
	}
	layers, err := r.layers(parsed, ropts)
	if err != nil {
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode >= 500 {
			err = fmt.Errorf("registry %s unreachable: %w", host, err)
			r.mu.Lock()
			if r.down[host] == nil {
				r.down[host] = err
			}
			r.mu.Unlock()
		}
		return nil, err
	}
	return layers, nil
}

func (r *Registry) layers(ref name.Reference, ropts []remote.Option) ([]Layer, error) {
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", ref, err)
		}
		var child *v1.Descriptor
		for i, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.Satisfies(r.platform) {
				child = &idx.Manifests[i]
				break
			}
		}
		if child == nil {
			return nil, fmt.Errorf("index %s has no image for %s", ref, r.platform)
		}
		if desc, err = remote.Get(ref.Context().Digest(child.Digest.String()), ropts...); err != nil {
			return nil, err
		}
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", ref, err)
	}
	out := make([]Layer, len(m.Layers))
	for i, l := range m.Layers {
		out[i] = Layer{Digest: l.Digest.String(), Size: l.Size}
	}
	return out, nil
}
