package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/spec"
)

// Accept headers: every manifest and index type, and indexes alone for
// the referrers API.
var (
	manifestTypes = []string{
		string(types.OCIManifestSchema1), string(types.OCIImageIndex),
		string(types.DockerManifestSchema2), string(types.DockerManifestList),
	}
	indexTypes = []string{string(types.OCIImageIndex)}
)

// registry is the Store of one repository at one source (a registry or a
// mirror), reached through go-containerregistry's transport (ping, token
// auth) at exactly the source's scheme, host and repository path.
type registry struct {
	src  spec.ImageSource
	base string // scheme://host/v2/<repository>
	http *http.Client
}

var _ Store = (*registry)(nil)

// dial pings src's host (one request) and returns the Store of its
// repository there.
func dial(ctx context.Context, src spec.ImageSource, opts Options) (*registry, error) {
	var nopts []name.Option
	if src.PlainHTTP {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(src.Host+"/"+src.Repository, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	auth, err := opts.authenticator(repo)
	if err != nil {
		return nil, fmt.Errorf("registry %s: credentials: %w", src.Host, err)
	}
	base, err := opts.transportFor(src.Host)
	if err != nil {
		return nil, err
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, base,
		[]string{repo.Scope(transport.PullScope)})
	if err != nil {
		err = unavailable(src.Host, err)
		if transient(err) {
			return nil, fmt.Errorf("registry %s unreachable: %w", src.Host, err)
		}
		return nil, fmt.Errorf("registry %s: %w", src.Host, err)
	}
	return &registry{
		src:  src,
		base: fmt.Sprintf("%s://%s/v2/%s", src.Scheme(), src.Host, src.Repository),
		http: &http.Client{Transport: rt},
	}, nil
}

// Manifest implements Store.
func (r *registry) Manifest(ctx context.Context, ref string, limit int64) ([]byte, error) {
	return r.get(ctx, "/manifests/"+ref, manifestTypes, limit)
}

// Blob implements Store.
func (r *registry) Blob(ctx context.Context, dgst string, limit int64) ([]byte, error) {
	return r.get(ctx, "/blobs/"+dgst, nil, limit)
}

// Referrers implements Store through the referrers API; a registry
// without it (distribution 2.8 answers 404) lists none.
func (r *registry) Referrers(ctx context.Context, dgst string, limit int64) ([]v1.Descriptor, error) {
	b, err := r.get(ctx, "/referrers/"+dgst, indexTypes, limit)
	var se *statusError
	if errors.Is(err, ErrNotFound) || errors.As(err, &se) && (se.status == http.StatusBadRequest || se.status == http.StatusMethodNotAllowed) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadContent, err)
	}
	return idx.Manifests, nil
}

// get fetches base+path. A 200 body is read up to limit bytes (errTooLarge
// past it); a 404 is ErrNotFound. Network failures are returned as they
// are (net.Error or the context's error), 5xx and 429 as
// UnavailableError, other answers as *statusError.
func (r *registry) get(ctx context.Context, path string, accept []string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return nil, err
	}
	if len(accept) > 0 {
		req.Header.Set("Accept", strings.Join(accept, ", "))
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		size := resp.ContentLength
		if size < 0 {
			size = -1
		}
		return readCapped(resp.Body, size, limit)
	case resp.StatusCode == http.StatusNotFound:
		drain(resp.Body)
		return nil, ErrNotFound
	case isUnavailable(resp.StatusCode):
		drain(resp.Body)
		return nil, &UnavailableError{Host: r.src.Host, Status: resp.StatusCode}
	}
	drain(resp.Body)
	return nil, &statusError{host: r.src.Host, status: resp.StatusCode}
}

func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 4096)) }
