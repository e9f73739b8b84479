package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gitfleet/gitfleet/spec"
)

// Accept headers.
var (
	imageManifestTypes = []string{
		string(types.OCIManifestSchema1), string(types.OCIImageIndex),
		string(types.DockerManifestSchema2), string(types.DockerManifestList),
	}
	manifestTypes = []string{string(types.OCIManifestSchema1), string(types.DockerManifestSchema2)}
	indexTypes    = []string{string(types.OCIImageIndex)}
)

// client reads one repository through go-containerregistry's transport
// (ping, anonymous token auth, scheme), with every body capped.
type client struct {
	host string // the registry as the reference names it, for errors
	base string // scheme://host/v2/<repository>
	http *http.Client
	opts Options
}

// dial pings the repository's registry, or its mirrors first, and returns
// a client for the first endpoint that answers. The ping is one request.
func dial(ctx context.Context, repo name.Repository, opts Options) (*client, error) {
	endpoints, err := endpoints(repo.Registry, opts.Registries)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, reg := range endpoints {
		rt, err := transport.NewWithContext(ctx, reg, authn.Anonymous, opts.transport(),
			[]string{repo.Scope(transport.PullScope)})
		if err != nil {
			errs = append(errs, fmt.Errorf("registry %s: %w", reg.RegistryStr(), unavailable(reg.RegistryStr(), err)))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return &client{
			host: repo.RegistryStr(),
			base: fmt.Sprintf("%s://%s/v2/%s", reg.Scheme(), reg.RegistryStr(), repo.RepositoryStr()),
			http: &http.Client{Transport: rt},
			opts: opts,
		}, nil
	}
	return nil, errors.Join(errs...)
}

// endpoints lists where a registry is reached: its mirrors (host[:port] or
// an http(s) URL without a path), then the registry itself.
func endpoints(reg name.Registry, registries []spec.Registry) ([]name.Registry, error) {
	byHost := make(map[string]spec.Registry, len(registries))
	for _, r := range registries {
		byHost[r.Host] = r
	}
	conf := registryConf(reg, registries)
	var out []name.Registry
	for _, m := range conf.Mirrors {
		host, insecure := m, byHost[m].PlainHTTP
		if strings.Contains(m, "://") {
			u, err := url.Parse(m)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") ||
				(u.Path != "" && u.Path != "/" && strings.TrimSuffix(u.Path, "/") != "/v2") {
				return nil, fmt.Errorf("mirror %q: want host[:port] or an http(s) URL without a path", m)
			}
			host, insecure = u.Host, u.Scheme == "http"
		}
		r, err := name.NewRegistry(host, registryOpts(insecure)...)
		if err != nil {
			return nil, fmt.Errorf("mirror %q: %w", m, err)
		}
		out = append(out, r)
	}
	if conf.PlainHTTP {
		r, err := name.NewRegistry(reg.RegistryStr(), name.Insecure)
		if err != nil {
			return nil, err
		}
		reg = r
	}
	return append(out, reg), nil
}

func registryOpts(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// response is a capped body read from the registry.
type response struct {
	status int
	body   []byte
}

// get fetches base+path. A 200 body is read up to limit bytes; a larger one
// is errTooLarge. Network failures are returned as they are (net.Error or
// the context's error), 5xx and 429 as UnavailableError; other statuses are
// returned with no body for the caller to judge.
func (c *client) get(ctx context.Context, path string, accept []string, limit int64) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return response{}, err
	}
	if len(accept) > 0 {
		req.Header.Set("Accept", strings.Join(accept, ", "))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	if isUnavailable(resp.StatusCode) {
		return response{}, &UnavailableError{Host: c.host, Status: resp.StatusCode}
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return response{status: resp.StatusCode}, nil
	}
	if resp.ContentLength > limit {
		return response{}, fmt.Errorf("%d bytes, %w of %d", resp.ContentLength, errTooLarge, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return response{}, err
	}
	if int64(len(body)) > limit {
		return response{}, fmt.Errorf("more than %d bytes, %w", limit, errTooLarge)
	}
	return response{status: http.StatusOK, body: body}, nil
}

// getByDigest fetches a manifest or blob addressed by dgst and checks that
// the bytes have that digest (and size, when size >= 0). A 404 is an error.
func (c *client) getByDigest(ctx context.Context, kind, dgst string, size int64, accept []string, limit int64) ([]byte, error) {
	if !digestRE.MatchString(dgst) {
		return nil, fmt.Errorf("%s digest %q: want sha256:<64 hex>", kind, dgst)
	}
	if size > limit {
		return nil, fmt.Errorf("%s %s: %d bytes, %w of %d", kind, dgst, size, errTooLarge, limit)
	}
	if size >= 0 {
		limit = size
	}
	path := "/manifests/" + dgst
	if kind == "blob" {
		path = "/blobs/" + dgst
	}
	r, err := c.get(ctx, path, accept, limit)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("%s %s: registry answered %d", kind, dgst, r.status)
	}
	if got := sha256Digest(r.body); got != dgst || (size >= 0 && int64(len(r.body)) != size) {
		return nil, fmt.Errorf("%s %s: registry served %d bytes with digest %s", kind, dgst, len(r.body), got)
	}
	return r.body, nil
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// registryConf returns the settings for reg ("docker.io" also names
// Docker Hub's index.docker.io).
func registryConf(reg name.Registry, registries []spec.Registry) spec.Registry {
	for _, r := range registries {
		if r.Host == reg.RegistryStr() || (r.Host == "docker.io" && reg.RegistryStr() == name.DefaultRegistry) {
			return r
		}
	}
	return spec.Registry{}
}
