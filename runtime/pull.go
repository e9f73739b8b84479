package runtime

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gitfleet/gitfleet/spec"
)

// pullLeaseExpiry bounds how long a lease of an abandoned pull keeps its
// partial content from containerd's garbage collector.
const pullLeaseExpiry = 24 * time.Hour

// PullLeaseID is the ID of the lease that holds the content of a pull of
// the image with digest dgst. A pull reuses it, so a pull interrupted by an
// agent restart resumes from what containerd already stored.
func PullLeaseID(dgst digest.Digest) string {
	return "gitfleet-pull-" + dgst.Encoded()
}

// Pull fetches the image src names, which must be pinned by digest, from
// exactly src (the host, scheme and repository path the image was
// verified at; a mirror's prefix included) and unpacks it into the
// snapshotter, stored under the name the fleet gives it. It makes no
// request when the image is already there and unpacked.
func (c *Containerd) Pull(ctx context.Context, src spec.ImageSource) error {
	name, dgst, err := pinned(src.Image.String())
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	if src.Digest != dgst.String() {
		return fmt.Errorf("pull %s: source %s is for digest %q", name, src, src.Digest)
	}
	if src.Layout != "" {
		return c.PullLayout(ctx, src.Image.String(), src.Layout)
	}
	ctx = c.ns(ctx)
	if img, err := c.client.GetImage(ctx, name); err == nil {
		if ok, err := img.IsUnpacked(ctx, c.cfg.Snapshotter); err == nil && ok {
			return nil
		}
	}
	start := time.Now()
	ls := c.client.LeasesService()
	lease := leases.Lease{ID: PullLeaseID(dgst)}
	if _, err := ls.Create(ctx, leases.WithID(lease.ID), leases.WithExpiration(pullLeaseExpiry)); err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("pull %s: lease: %w", name, err)
	}
	resumed, err := ingests(ctx, ls, lease)
	if err != nil {
		return fmt.Errorf("pull %s: lease: %w", name, err)
	}
	var fetched atomic.Int64
	if c.cfg.OnPull != nil {
		defer func() {
			c.cfg.OnPull(PullStats{Ref: name, Bytes: fetched.Load(), Duration: time.Since(start), Err: err})
		}()
	}
	err = c.pull(leases.WithLease(ctx, lease.ID), name, src, &fetched)
	if err != nil && len(resumed) > 0 && ctx.Err() == nil && resumeRefused(err) {
		// The server will not send the rest of what is held (it refuses
		// ranges) or the bytes held do not add up to the digest: only then
		// are the partial downloads dropped and the pull started over,
		// once. Any other failure (a cut, a refused connection, a lookup
		// that fails) keeps them for the next attempt.
		c.log.WarnContext(ctx, "cannot resume pull, starting over", logKeyRef, name, logKeyError, err)
		cs := c.client.ContentStore()
		for _, ref := range resumed {
			_ = cs.Abort(ctx, ref)
		}
		err = c.pull(leases.WithLease(ctx, lease.ID), name, src, &fetched)
	}
	if err != nil {
		// The lease stays: the next pull resumes from the stored content.
		err = fmt.Errorf("pull %s from %s: %w", name, src, err)
		return err
	}
	// The image record and its unpacked snapshots now hold the content.
	if derr := ls.Delete(ctx, lease); ignoreNotFound(derr) != nil {
		err = fmt.Errorf("pull %s: delete lease: %w", name, derr)
		return err
	}
	c.log.InfoContext(ctx, "pulled image", logKeyRef, name, logKeySource, src.String(), logKeyDuration, time.Since(start).Round(time.Millisecond))
	return nil
}

// pull pulls and unpacks name from src with the lease on ctx, after
// checking that it fits on the disk.
func (c *Containerd) pull(ctx context.Context, name string, src spec.ImageSource, fetched *atomic.Int64) error {
	r, err := resolver(name, src, c.cfg)
	if err != nil {
		return err
	}
	res := countingResolver{Resolver: r, n: fetched}
	if err := c.checkSpace(ctx, name, res); err != nil {
		return err
	}
	_, err = c.client.Pull(ctx, name,
		containerd.WithResolver(res),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(c.cfg.Snapshotter))
	return err
}

// resumeRefused reports whether err says a partial download cannot be
// resumed: the server answered 416 to the Range request containerd's
// fetcher resumes with, or the bytes held did not match the digest when
// committed. containerd's docker fetcher and content store return these as
// text only.
func resumeRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "416 Requested Range Not Satisfiable") ||
		strings.Contains(msg, "unexpected commit digest") ||
		strings.Contains(msg, "unexpected commit size")
}

// ingests returns the refs of the partial downloads lease holds.
func ingests(ctx context.Context, ls leases.Manager, lease leases.Lease) ([]string, error) {
	rs, err := ls.ListResources(ctx, lease)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, r := range rs {
		if r.Type == "ingests" {
			refs = append(refs, r.ID)
		}
	}
	return refs, nil
}

// resolver resolves and fetches the image name from src alone: one host,
// at src's scheme, the repository at src's path there. containerd's
// docker resolver does the requests (Range requests resume a download);
// the image keeps name. It signs in with cfg's login for the host and
// uses cfg's TLS settings for it, as image verification does.
func resolver(name string, src spec.ImageSource, cfg Config) (remotes.Resolver, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.RegistryTLS != nil {
		tc, err := cfg.RegistryTLS(src.Host)
		if err != nil {
			return nil, err
		}
		if tc != nil {
			tr.TLSClientConfig = tc
		}
	}
	client := &http.Client{Transport: tr}
	var login RegistryLogin
	if cfg.RegistryLogin != nil {
		login, _ = cfg.RegistryLogin(src.Host)
	}
	creds := func(string) (string, string, error) {
		if login.IdentityToken != "" {
			return "", login.IdentityToken, nil // containerd's meaning of an empty user
		}
		return login.Username, login.Password, nil
	}
	var header http.Header
	if login.RegistryToken != "" {
		header = http.Header{"Authorization": {"Bearer " + login.RegistryToken}}
	}
	host := docker.RegistryHost{
		Client:       client,
		Authorizer:   docker.NewDockerAuthorizer(docker.WithAuthClient(client), docker.WithAuthCreds(creds)),
		Header:       header,
		Host:         src.Host,
		Scheme:       src.Scheme(),
		Path:         "/v2",
		Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
	}
	hosts := func(h string) ([]docker.RegistryHost, error) {
		if h != src.Host {
			return nil, fmt.Errorf("registry %s is not the source %s", h, src)
		}
		return []docker.RegistryHost{host}, nil
	}
	return &sourceResolver{
		Resolver: docker.NewResolver(docker.ResolverOptions{Hosts: hosts}),
		name:     name,
		at:       src.Ref(),
	}, nil
}

// sourceResolver reads the image called name at the reference at (the
// same image at its source) and reports it under name.
type sourceResolver struct {
	remotes.Resolver
	name, at string
}

func (r *sourceResolver) Resolve(ctx context.Context, ref string) (string, ocispec.Descriptor, error) {
	if ref != r.name {
		return "", ocispec.Descriptor{}, fmt.Errorf("resolve %s: only %s is pulled here", ref, r.name)
	}
	_, desc, err := r.Resolver.Resolve(ctx, r.at)
	return ref, desc, err
}

func (r *sourceResolver) Fetcher(ctx context.Context, ref string) (remotes.Fetcher, error) {
	if ref != r.name {
		return nil, fmt.Errorf("fetch %s: only %s is pulled here", ref, r.name)
	}
	return r.Resolver.Fetcher(ctx, r.at)
}
